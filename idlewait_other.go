//go:build !unix

package httpev

type idleWaiter struct{}

// readIdle is not available here: idle connections keep their buffer.
func (c *conn) readIdle() (bool, error) { return false, nil }

func (c *conn) hasPending() bool { return false }
