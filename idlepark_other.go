//go:build !linux

package httpev

import (
	"net"
	"time"
)

// Idle keep-alive connections park only on Linux (idlepark_linux.go);
// elsewhere each waits on its own goroutine, without a read buffer.

type parkState struct{}

func (*parkState) resumed() bool { return false }

type parker struct{ srv *Server }

// readIdleOrPark is readIdle with the idle timeout of the wait.
func (c *conn) readIdleOrPark(timeout time.Duration) (bool, error) {
	return c.readIdleWait(timeout)
}

func (*parker) drain(*conn, bool) bool { return false }

func (*parker) stop() {}

func (*parker) forget(*conn) {}

func (*parker) letGo(*conn) {}

func (l *PortListener) wrapRaw(ln net.Listener) net.Listener { return ln }

func (c *conn) parkNew() bool { return false }
