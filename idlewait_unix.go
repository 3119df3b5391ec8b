//go:build unix

package httpev

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// idleWaiter reads the first bytes of the next request on an idle
// connection into a read buffer taken from the pool only once they are
// there: the buffer is taken inside the raw read and given back when the
// socket has nothing yet, so an idle keep-alive connection waits with no
// read buffer and the wait costs no system call beyond the reads a plain
// Read would make. Its parts are built once per connection so waiting
// allocates nothing.
type idleWaiter struct {
	rc   syscall.RawConn
	read func(fd uintptr) bool
	n    int
	err  error
	buf  [1]byte
	none bool // the connection has no raw socket (TLS, in-memory)

	readNow func(fd uintptr) // read for Control
	noWait  bool             // readNow: report EAGAIN instead of waiting
	again   bool             // readNow found nothing to read
}

// canReadIdle reports whether idle waits can hold no read buffer: the
// connection is a plain socket (not TLS, not in-memory).
func (c *conn) canReadIdle() bool { return c.raw() != nil }

// raw returns the connection's raw socket, nil when it has none.
func (c *conn) raw() syscall.RawConn {
	w := &c.idleWait
	if w.rc == nil && !w.none {
		if sc, ok := c.nc.(syscall.Conn); ok {
			w.rc, _ = sc.SyscallConn()
		}
		w.none = w.rc == nil
	}
	return w.rc
}

// readIdle waits for and reads the next bytes into a fresh read buffer,
// honouring the read deadline. ok is false when the connection cannot be
// read this way (TLS, in-memory connections): then nothing was read and no
// buffer taken.
func (c *conn) readIdle() (ok bool, err error) {
	w := &c.idleWait
	cr := &c.cr
	if w.read == nil {
		if c.raw() == nil {
			return false, nil
		}
		w.read = func(fd uintptr) bool {
			c.srv.takeReadBuf(cr)
			for {
				w.n, w.err = syscall.Read(int(fd), cr.buf)
				if w.err != syscall.EINTR {
					break
				}
			}
			if w.err == syscall.EAGAIN {
				c.srv.returnReadBuf(cr)
				w.again = w.noWait
				return w.noWait
			}
			return true
		}
		w.readNow = func(fd uintptr) { w.read(fd) }
	}
	w.n, w.err, w.again = 0, nil, false
	if w.noWait {
		// Control rather than Read: a read that never waits must not
		// fail on a read deadline left from an earlier wait.
		err = w.rc.Control(w.readNow)
	} else {
		err = w.rc.Read(w.read)
	}
	if w.again {
		return true, errNothingYet
	}
	if cr.buf == nil {
		c.srv.takeReadBuf(cr)
	}
	cr.r, cr.w = 0, 0
	if err == nil {
		switch {
		case w.err != nil:
			err = os.NewSyscallError("read", w.err)
		case w.n == 0:
			err = io.EOF
		default:
			cr.w = w.n
			cr.st.countIn(w.n)
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true, errTimeout
	}
	return true, err
}

// errNothingYet is readNow's report of a socket with nothing to read.
var errNothingYet = errors.New("httpev: nothing to read yet")

// readNow is readIdle for a socket the poller saw readable: it never
// waits, and reports errNothingYet (with no read buffer taken) when the
// readiness was stale.
func (c *conn) readNow() (bool, error) {
	w := &c.idleWait
	w.noWait = true
	ok, err := c.readIdle()
	w.noWait = false
	return ok, err
}

// hasPending reports, without blocking, whether the client has sent bytes
// that are waiting in the socket: a graceful shutdown still serves a
// request that arrived before it began.
func (c *conn) hasPending() bool {
	w := &c.idleWait
	if c.raw() == nil {
		return false
	}
	pending := false
	_ = w.rc.Control(func(fd uintptr) {
		n, _, e := syscall.Recvfrom(int(fd), w.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = e == nil && n > 0
	})
	return pending
}
