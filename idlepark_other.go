//go:build !linux

package httpev

import (
	"errors"
	"time"
)

// Idle keep-alive connections park only on Linux (idlepark_linux.go);
// elsewhere each waits on its own goroutine, without a read buffer.

var errParked = errors.New("httpev: connection parked")

type parkState struct{}

func (*parkState) takeResumed() bool { return false }

type parker struct{ srv *Server }

func (c *conn) readIdleOrPark(timeout time.Duration) (bool, error) {
	if timeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	return c.readIdle()
}

func (*parker) drain(*conn, bool) bool { return false }

func (*parker) stop() {}
