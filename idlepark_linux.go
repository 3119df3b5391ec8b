//go:build linux

package httpev

import (
	"errors"
	"net"
	"time"

	"github.com/httpev/httpev/internal/rawfd"
)

// The idle wait on Linux: a connection waits for its next request in the
// poller (internal/poller) when it can. A resident connection (Threading
// on, TCP) goes back into the set at once, and a runner serves its next
// request; any other plain socket waits Tuning.Grace on its goroutine,
// then parks without one.

// waitNext waits for the first bytes of the next request; timeout is the
// idle timeout. It reports parked when the poller took the connection
// (the caller must not touch it any more) and, on a runner (onRunner),
// handedOver when the wait must happen on a goroutine of the connection's
// own, which the caller starts; again otherwise, with what the read found.
func (c *conn) waitNext(timeout time.Duration, onRunner bool) (stepOutcome, error) {
	lp := &c.loop
	if lp.ready {
		lp.ready = false
		nothing, err := c.readIdle(false)
		if !nothing {
			if err == nil && c.l.timeout <= 0 {
				// As below: a partial head must not meet a deadline
				// left over from an earlier wait.
				c.setIdleDeadline(lp.until)
			}
			return again, err
		}
	}
	if c.reqCount > 0 || c.outsideGo() {
		// Resident: after a first request, or from the start for a
		// connection accepted outside Go's netpoller.
		if now := time.Now(); c.mayReside(now) {
			return c.reside(now, timeout, onRunner)
		}
	}
	if onRunner {
		return handedOver, nil
	}
	if !c.mayPark(timeout) {
		return again, c.waitHere(timeout)
	}
	since := time.Now()
	c.setIdleDeadline(since.Add(c.srv.ev.p.Tuning().Grace))
	_, err := c.readIdle(true)
	if !errors.Is(err, errTimeout) {
		if err == nil && c.l.timeout <= 0 {
			// No head read will set a deadline of its own: leave the one
			// a wait without parking would have left.
			c.setIdleDeadline(deadlineAfter(since, timeout))
		}
		return again, err
	}
	c.srv.returnReadBuf(&c.cr)
	c.dropScratch()
	if c.park(deadlineAfter(since, timeout)) {
		return parked, nil
	}
	if c.closing.Load() {
		c.srv.takeReadBuf(&c.cr) // as readIdle leaves it
		return again, err        // a shutdown woke us; awaitRequest decides
	}
	// Could not park: wait out the rest of the idle timeout here.
	c.setIdleDeadline(deadlineAfter(since, timeout))
	_, err = c.readIdle(true)
	return again, err
}

// mayPark reports whether this idle wait may end in parking: the
// connection has served a request, can park, and the idle timeout is
// longer than the grace.
func (c *conn) mayPark(timeout time.Duration) bool {
	if c.reqCount == 0 || timeout > 0 && timeout <= c.srv.ev.p.Tuning().Grace {
		return false
	}
	return c.canPark()
}

// canPark reports whether the connection can wait in the poller at all: a
// plain socket, parking on, not closing.
func (c *conn) canPark() bool {
	if c.srv.opts.NoIdlePark || c.srv.ev.p.Broken() || c.idleWait.rc == nil {
		return false
	}
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn, *rawfd.Conn:
	default:
		return false
	}
	return !c.closing.Load()
}

// mayReside reports whether this connection, going idle at now, should
// wait for its next request as a resident and be served by a runner.
func (c *conn) mayReside(now time.Time) bool {
	if !c.l.opts.Threading || !c.canPark() || !c.l.loop.group.Resident(now) {
		return false
	}
	switch c.nc.(type) {
	case *net.TCPConn, *rawfd.Conn:
		return true
	}
	return false
}

// outsideGo reports whether c's socket is out of Go's netpoller.
func (c *conn) outsideGo() bool {
	_, ok := c.nc.(*rawfd.Conn)
	return ok
}

// dropScratch lets a parking connection's per-request scratch buffers go:
// they are cheap to make again for a connection idle this long.
func (c *conn) dropScratch() {
	c.outBuf = nil
	c.hdr = nil
}

// park puts an idle connection into the poller, one-shot. It fails once
// the connection or server is closing (Server.drain has been or is about
// to be through it: both look under Server.mu) or when epoll fails; the
// connection then keeps waiting on its goroutine.
func (c *conn) park(deadline time.Time) bool {
	fd := -1 // before any lock: the descriptor's lock comes first
	_ = c.idleWait.rc.Control(func(f uintptr) { fd = int(f) })
	p := &c.srv.ev.p
	if !p.Start() {
		return false
	}
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting || s.closed || c.closing.Load() {
		return false
	}
	c.loop.until = deadline
	return p.Park(&c.loop.entry, fd, deadline)
}

// reside waits for the next request in the poller as a resident; the read
// buffer goes back to the pool meanwhile.
func (c *conn) reside(since time.Time, timeout time.Duration, onRunner bool) (stepOutcome, error) {
	cr := &c.cr
	c.srv.returnReadBuf(cr)
	if fc := c.detach(); fc != nil {
		fd := fc.FD()
		c.loop.until = deadlineAfter(since, timeout)
		if c.srv.ev.p.Reside(&c.loop.entry, fd, c.loop.until, c.open) {
			return parked, nil
		}
	}
	if c.closing.Load() {
		c.srv.takeReadBuf(cr) // as readIdle leaves it
		cr.r, cr.w = 0, 0
		return again, errTimeout // a shutdown began; awaitRequest serves what had arrived
	}
	if onRunner {
		return handedOver, nil
	}
	return again, c.waitHere(timeout)
}

// open reports whether the connection is not closing (the poller asks
// under its lock before it takes the connection).
func (c *conn) open() bool { return !c.closing.Load() }

// detach takes c's socket out of Go's netpoller, once; nil when it cannot
// be (not plain TCP).
func (c *conn) detach() *rawfd.Conn {
	if fc, ok := c.nc.(*rawfd.Conn); ok {
		return fc
	}
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	fc, err := rawfd.Detach(tc)
	if err != nil {
		c.srv.logDebug("httpev: cannot detach connection", "err", err)
		return nil
	}
	c.srv.ev.hook(c, fc)
	s := c.srv
	s.mu.Lock() // Server.drain reads c.nc under it
	c.nc = fc
	s.mu.Unlock()
	c.cr.conn = fc
	c.idleWait.rc, _ = fc.SyscallConn()
	return fc
}
