//go:build !unix

package httpev

type idleWaiter struct{}

// waitReadable is not available here: idle connections keep their buffer.
func (c *conn) waitReadable() (bool, error) { return false, nil }

func (c *conn) hasPending() bool { return false }
