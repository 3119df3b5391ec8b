//go:build !linux

package httpev

import (
	"net"
	"sync/atomic"
	"time"
)

// Other systems have no poller: every connection is served on a goroutine
// of its own, and waits there between requests (without a read buffer on
// Unix systems, idlewait_unix.go). These are the Linux adapter's methods
// (evloop_linux.go), doing nothing.

type eventLoop struct{}

type connLoop struct{}

type listenerLoop struct{}

func (*eventLoop) init(*Server) {}

func (*connLoop) init(*conn) {}

func (*connLoop) inputReady() bool { return false }

func (*eventLoop) adopt(*conn) bool { return false }

func (*eventLoop) keep(*conn) {}

// watchClient watches the socket for the client leaving with a
// background read.
func (c *conn) watchClient(gone func(), over *atomic.Bool) {
	if c.gaveUp.Load() {
		return // the application's socket now (GiveUpHandle)
	}
	c.cr.startBackgroundRead(gone, false, over)
}

func (*conn) unwatchClient() {}

func (*eventLoop) forget(*conn) {}

func (*eventLoop) drain(*conn) bool { return false }

func (*eventLoop) stop() {}

func (*conn) drained(bool) {}

func (*listenerLoop) wrap(_ *PortListener, ln net.Listener) net.Listener { return ln }

// Idle keep-alive connections park only on Linux (evloop_linux.go);
// elsewhere each waits on its own goroutine, without a read buffer.

// waitNext waits for the next request on this goroutine.
func (c *conn) waitNext(timeout time.Duration, _ bool) (stepOutcome, error) {
	return again, c.waitHere(timeout)
}
