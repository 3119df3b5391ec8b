package httpev

import (
	"errors"
	"time"
)

// Parts of idle parking (idlepark_linux.go) shared with the systems that
// never park (idlepark_other.go).

// errParked ends the serve goroutine of a connection handed to the parker:
// the connection stays open and tracked, and the poller starts a new
// goroutine for it when bytes arrive.
var errParked = errors.New("httpev: connection parked")

// setIdleDeadline sets the read deadline of an idle wait. Server.drain
// sets an idle connection's deadline to the end of the drain window (a
// time past when there is none) after marking it closing; if that happened
// between the connection's last look at closing and this call, that
// deadline is restored rather than overridden (the connection would
// otherwise sit out its IdleTimeout in a shutdown).
func (c *conn) setIdleDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if c.closing.Load() {
		_ = c.nc.SetReadDeadline(c.drainDeadline())
	}
}

// readIdleWait waits for the next request on this goroutine with the idle
// timeout; with none (timeout not positive) it clears the deadline, which
// would otherwise be the last read's Timeout and close the connection.
func (c *conn) readIdleWait(timeout time.Duration) (bool, error) {
	c.setIdleDeadline(deadlineAfter(time.Now(), timeout))
	return c.readIdle()
}

// deadlineAfter is t+d, or no deadline when d is not positive.
func deadlineAfter(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}
