//go:build !linux

package httpev

import "time"

// Idle keep-alive connections park only on Linux (idlepark_linux.go);
// elsewhere each waits on its own goroutine, without a read buffer.

// waitNext waits for the next request on this goroutine.
func (c *conn) waitNext(timeout time.Duration, _ bool) (stepOutcome, error) {
	return again, c.waitHere(timeout)
}
