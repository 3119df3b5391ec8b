//go:build unix

package httpev

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
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

	control func(fd uintptr) // read for Control
	noWait  bool             // report EAGAIN instead of waiting
	again   bool             // a read that does not wait found nothing
	waited  bool             // the read found nothing at first and waited
}

// canReadIdle reports whether idle waits can hold no read buffer: the
// connection is a plain socket (not TLS, not in-memory).
func (c *conn) canReadIdle() bool { return c.sysConn() != nil }

// sysConn returns the connection's raw socket, nil when it has none.
func (c *conn) sysConn() syscall.RawConn {
	w := &c.idleWait
	if w.rc == nil && !w.none {
		if sc, ok := c.nc.(syscall.Conn); ok {
			w.rc, _ = sc.SyscallConn()
		}
		w.none = w.rc == nil
	}
	return w.rc
}

// readIdle reads the first bytes of the next request into a fresh read
// buffer. With block it waits for them, honouring the read deadline;
// without, it reports nothing (and takes no buffer) when the socket has
// nothing to read: the poller's readiness report was stale. Callers check
// canReadIdle first.
//
// at, when not zero, is a clock reading the caller has just taken: the
// arrival time of what a read finds without waiting (a clock read costs
// about 60 ns here, time.Now reading two clocks, against about 4 µs for a
// whole small keep-alive request: bench/README, "Changes for issue 14").
func (c *conn) readIdle(block bool, at time.Time) (nothing bool, err error) {
	w := &c.idleWait
	cr := &c.cr
	if w.read == nil {
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
				w.waited = !w.noWait
				return w.noWait
			}
			return true
		}
		w.control = func(fd uintptr) { w.read(fd) }
	}
	w.n, w.err, w.again, w.waited, w.noWait = 0, nil, false, false, !block
	if block {
		err = w.rc.Read(w.read)
	} else {
		// Control rather than Read: a read that never waits must not
		// fail on a read deadline left from an earlier wait.
		err = w.rc.Control(w.control)
	}
	w.noWait = false
	if w.again {
		return true, nil
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
			if at.IsZero() || w.waited {
				at = time.Now()
			}
			cr.readAt = at
			cr.st.countIn(w.n)
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, errTimeout
	}
	return false, err
}

// hasPending reports, without blocking, whether the client has sent bytes
// that are waiting in the socket: a graceful shutdown still serves a
// request that arrived before it began.
func (c *conn) hasPending() bool {
	w := &c.idleWait
	if c.sysConn() == nil {
		return false
	}
	pending := false
	_ = w.rc.Control(func(fd uintptr) {
		n, _, e := syscall.Recvfrom(int(fd), w.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = e == nil && n > 0
	})
	return pending
}
