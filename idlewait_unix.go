//go:build unix

package httpev

import (
	"errors"
	"os"
	"syscall"
)

// idleWaiter waits until a connection has bytes to read (or EOF, or an
// error) without reading any, so an idle keep-alive connection can wait
// with no read buffer at all: the buffer goes back to the pool and is taken
// again only when the next request arrives. Its parts are built once per
// connection so waiting allocates nothing.
type idleWaiter struct {
	rc   syscall.RawConn
	peek func(fd uintptr) bool
	buf  [1]byte
}

// wait blocks until readable, honouring the read deadline. ok is false
// when the connection cannot be waited on this way (TLS, in-memory
// connections); the caller then reads as usual.
func (c *conn) waitReadable() (ok bool, err error) {
	w := &c.idleWait
	if w.rc == nil {
		sc, isSys := c.nc.(syscall.Conn)
		if !isSys {
			return false, nil
		}
		if w.rc, err = sc.SyscallConn(); err != nil {
			return false, nil
		}
		w.peek = func(fd uintptr) bool {
			_, _, e := syscall.Recvfrom(int(fd), w.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return !errors.Is(e, syscall.EAGAIN)
		}
	}
	err = w.rc.Read(w.peek)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true, errTimeout
	}
	return true, err
}

// hasPending reports, without blocking, whether the client has sent bytes
// that are waiting in the socket: a graceful shutdown still serves a
// request that arrived before it began.
func (c *conn) hasPending() bool {
	w := &c.idleWait
	if w.rc == nil {
		return false
	}
	pending := false
	_ = w.rc.Control(func(fd uintptr) {
		n, _, e := syscall.Recvfrom(int(fd), w.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = e == nil && n > 0
	})
	return pending
}
