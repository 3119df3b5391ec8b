package httpev

import (
	"time"
)

// The idle wait between requests, the part shared by every system: the
// Linux wait can end in the poller instead (idlepark_linux.go).

// setIdleDeadline sets the read deadline of an idle wait. Server.drain
// wakes an idle connection by setting a deadline in the past after marking
// it closing; if that happened between the connection's last look at
// closing and this call, the wake-up is restored rather than overridden
// (the connection would otherwise sit out its IdleTimeout in a shutdown).
func (c *conn) setIdleDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if c.closing.Load() {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// waitHere waits for the next request on this goroutine with the idle
// timeout; with none (timeout not positive) it clears the deadline, which
// would otherwise be the last read's Timeout and close the connection.
func (c *conn) waitHere(timeout time.Duration) error {
	c.setIdleDeadline(deadlineAfter(time.Now(), timeout))
	_, err := c.readIdle(true)
	return err
}

// deadlineAfter is t+d, or no deadline when d is not positive.
func deadlineAfter(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}
