//go:build !unix

package httpev

import "time"

// idleWaiter is empty here: idle connections keep their read buffer, and
// readIdle is never called.
type idleWaiter struct{}

func (idleWaiter) usable() bool { return false }

func (c *conn) canReadIdle() bool { return c.idleWait.usable() }

func (c *conn) readIdle(bool, time.Time) (bool, error) { return false, nil }

func (c *conn) hasPending() bool { return false }
