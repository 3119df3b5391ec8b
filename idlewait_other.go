//go:build !unix

package httpev

type idleWaiter struct{}

// Idle connections keep their read buffer here: readIdle is never called.
func (c *conn) canReadIdle() bool { return false }

func (c *conn) readIdle() (bool, error) { return false, nil }

func (c *conn) hasPending() bool { return false }
