//go:build linux

package httpev

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// idleParkGrace is how long a keep-alive connection waits for its next
// request on its own goroutine before it parks. Parking and waking cost a
// goroutine exit and start and two epoll_ctl calls (a few microseconds); a
// busy keep-alive connection, whose requests come less than 100 ms apart,
// must never pay them, while one that stays idle longer gives back its
// goroutine stack, the bulk of what an idle connection costs.
const idleParkGrace = 100 * time.Millisecond

// parkBatch is how many readiness events the poller takes per epoll_wait.
const parkBatch = 128

// parkState is a connection's part in the parker. Fields marked p.mu are
// guarded by the parker's mutex; the others belong to whichever goroutine
// serves the connection, and pass between goroutines through that mutex
// (park takes it, the poller and drain take it before starting the next
// goroutine).
type parkState struct {
	parked     bool      // p.mu: in the epoll set, no goroutine
	fd         int32     // p.mu: registered descriptor
	gen        uint32    // p.mu: tells a stale event from this registration's
	deadline   time.Time // p.mu: IdleTimeout end, counted from the start of the idle wait
	prev, next *conn     // p.mu: the parker's list, in deadline order
	resident   bool      // p.mu: registered level-triggered from request to request; the poller serves it (evloop_linux.go)
	ready      bool      // started by the parker with input waiting (bytes came, or a request had arrived before shutdown): the idle wait reads without waiting
}

// resumed reports whether this goroutine was started by the parker with
// input waiting: it then goes straight to reading the request, even if a
// shutdown began since the bytes arrived. The idle wait clears it.
func (ps *parkState) resumed() bool { return ps.ready }

// parker holds the idle keep-alive connections of one Server: one epoll
// set and one poller goroutine for all of them, so that an idle connection
// costs its socket and its conn struct (about 3-4 KB of RSS) instead of
// also a goroutine stack (another 4 KB). Two kinds of connection are in
// the set:
//
//   - Resident ones (Threading on, TCP; evloop_linux.go) are registered
//     level-triggered from their first response until they close or block,
//     and the poller serves their requests on its own goroutine.
//   - Parked ones (the rest) are registered EPOLLONESHOT after 100 ms idle;
//     the first readiness (bytes, end of stream, error) takes one out of
//     the set and starts its goroutine again. Go's own netpoller keeps the
//     descriptor registered meanwhile, which is harmless: nothing reads it.
//
// The poller waits in epoll_wait with the earliest IdleTimeout deadline as
// its timeout; a pipe in the set wakes it for an earlier deadline or stop.
//
// Locking: Server.mu comes before an fdConn's mutex (drain closes
// connections under Server.mu), and both come before parker.mu (an fdConn
// handing its socket to Go takes it out of the set), so the parker never
// calls into an fdConn under its mutex. Every epoll_ctl and every change to a parked connection
// happens under parker.mu, and a connection's descriptor is only closed
// after it has left the set under that mutex (forget), so an event is
// never applied to a descriptor number that was closed and reused: the
// poller looks the descriptor up and checks the generation under the
// mutex before it acts.
//
// The parker starts on the first park and stops in Shutdown and Close.
type parker struct {
	srv *Server

	mu       sync.Mutex
	epfd     int
	stopped  bool
	gen      uint32
	byFD     []*conn // parked connections by descriptor (8 bytes per descriptor number, never shrunk)
	head     *conn   // earliest deadline
	tail     *conn
	deadline time.Time // the poll's current read deadline; zero when none is armed
	done     chan struct{}
	started  bool
	pokeR    int // a pipe whose input end is in the set: poke wakes the poller
	pokeW    int
	runner   uint32               // p.mu: generation of the goroutine that polls (evloop_linux.go)
	rest     []syscall.EpollEvent // p.mu: the events after the one being served on the poller; a new runner takes them over
	first    bool                 // p.mu: the one being served on the poller has not served a request before
	handoffs handoffState

	broken atomic.Bool // epoll unavailable: connections never park
}

// mayPark reports whether this idle wait may end in parking: the
// connection has served a request, is a plain socket (TLS and in-memory
// connections keep their goroutine) and the idle timeout is longer than
// the grace.
func (c *conn) mayPark(timeout time.Duration) bool {
	if c.reqCount == 0 || timeout > 0 && timeout <= idleParkGrace {
		return false
	}
	return c.canPark()
}

// canPark reports whether the connection can wait in the parker at all: a
// plain socket, parking on, not closing.
func (c *conn) canPark() bool {
	if c.srv.opts.NoIdlePark || c.srv.park.broken.Load() || c.idleWait.rc == nil {
		return false
	}
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn, *fdConn:
	default:
		return false
	}
	return !c.closing.Load()
}

// readIdleOrPark is readIdle with the idle timeout of the wait: it waits
// idleParkGrace on this goroutine, then hands the connection to the
// parker and reports errParked, after which the caller must not touch the
// connection.
func (c *conn) readIdleOrPark(timeout time.Duration) (bool, error) {
	if c.park.ready {
		c.park.ready = false
		ok, err := c.readNow()
		if err != errNothingYet {
			if err == nil && c.l.timeout <= 0 {
				// As below: a partial head must not meet a deadline
				// left over from an earlier wait.
				c.setIdleDeadline(c.park.deadline)
			}
			return ok, err
		}
	}
	if (c.reqCount > 0 || c.isRaw()) && c.canPark() {
		// Resident: after a first request, or from the start for a
		// connection accepted outside Go's netpoller (accept_linux.go).
		if since := time.Now(); c.inline(since) {
			return c.parkResident(since, timeout)
		}
	}
	if !c.mayPark(timeout) {
		return c.readIdleWait(timeout)
	}
	since := time.Now()
	c.setIdleDeadline(since.Add(idleParkGrace))
	ok, err := c.readIdle()
	if !errors.Is(err, errTimeout) {
		if err == nil && c.l.timeout <= 0 {
			// No head read will set a deadline of its own: leave the one
			// a wait without parking would have left.
			c.setIdleDeadline(deadlineAfter(since, timeout))
		}
		return ok, err
	}
	c.srv.returnReadBuf(&c.cr)
	c.dropScratch()
	if c.srv.park.park(c, deadlineAfter(since, timeout)) {
		return true, errParked
	}
	// Could not park: wait out the rest of the idle timeout here, or
	// once a shutdown began the drain window (setIdleDeadline).
	c.setIdleDeadline(deadlineAfter(since, timeout))
	return c.readIdle()
}

// dropScratch lets a parking connection's per-request scratch buffers go:
// they are cheap to make again for a connection idle this long.
func (c *conn) dropScratch() {
	c.outBuf = nil
	c.hdr = nil
}

// park puts an idle connection into the epoll set. It fails once the
// connection or server is closing (drain has been or is about to be
// through it) or when epoll fails; the connection then keeps waiting on
// its goroutine.
func (p *parker) park(c *conn, deadline time.Time) bool {
	fd := -1 // before parker.mu, which comes after an fdConn's lock
	_ = c.idleWait.rc.Control(func(f uintptr) { fd = int(f) })
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting || s.closed || c.closing.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.broken.Load() || !p.startLocked() {
		return false
	}
	if fd < 0 {
		return false
	}
	p.gen++
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: int32(p.gen)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		s.logDebug("httpev: cannot park connection", "err", err)
		return false
	}
	ps := &c.park
	ps.parked, ps.fd, ps.gen, ps.deadline = true, int32(fd), p.gen, deadline
	if fd >= len(p.byFD) {
		p.byFD = append(p.byFD, make([]*conn, fd+1-len(p.byFD))...)
	}
	p.byFD[fd] = c
	p.insertLocked(c)
	return true
}

// startLocked creates the epoll set and starts the poller on first use.
func (p *parker) startLocked() bool {
	if p.started {
		return true
	}
	if p.broken.Load() {
		return false
	}
	fail := func(err error) bool {
		p.broken.Store(true)
		p.srv.log.Warn("httpev: idle connections cannot park; each keeps its goroutine", "err", err)
		return false
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fail(os.NewSyscallError("epoll_create1", err))
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return fail(os.NewSyscallError("pipe2", err))
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(pipe[0])
		_ = syscall.Close(pipe[1])
		return fail(os.NewSyscallError("epoll_ctl", err))
	}
	p.epfd, p.pokeR, p.pokeW, p.done, p.started = epfd, pipe[0], pipe[1], make(chan struct{}), true
	go p.run(p.runner, nil)
	return true
}

// poke makes the poller's epoll_wait return, to see a new deadline or
// that it must stop.
func (p *parker) poke() {
	_, _ = syscall.Write(p.pokeW, []byte{0})
}

// waitMillis is the poller's next epoll_wait timeout: until the armed
// deadline, -1 for none; stop reports that the poller must end.
func (p *parker) waitMillis() (ms int, stop bool) {
	p.mu.Lock()
	d, stop := p.deadline, p.stopped
	p.mu.Unlock()
	if d.IsZero() {
		return -1, stop
	}
	wait := time.Until(d)
	if wait <= 0 {
		return 0, stop
	}
	return int((wait + time.Millisecond - 1) / time.Millisecond), stop
}

// insertLocked links c into the deadline-ordered list. Connections park
// roughly in deadline order, so the walk from the tail is short.
func (p *parker) insertLocked(c *conn) {
	at := p.tail
	for at != nil && at.park.deadline.After(c.park.deadline) {
		at = at.park.prev
	}
	c.park.prev = at
	if at == nil {
		c.park.next, p.head = p.head, c
	} else {
		c.park.next, at.park.next = at.park.next, c
	}
	if c.park.next == nil {
		p.tail = c
	} else {
		c.park.next.park.prev = c
	}
	if p.head == c {
		p.armLocked()
	}
}

// unparkLocked takes c out of the epoll set and the list. The caller then
// owns the connection: it starts its goroutine or finishes it.
func (p *parker) unparkLocked(c *conn) {
	p.deregisterLocked(c)
	p.unlistLocked(c)
}

// deregisterLocked takes c's descriptor out of the epoll set.
func (p *parker) deregisterLocked(c *conn) {
	ps := &c.park
	if int(ps.fd) < len(p.byFD) && p.byFD[ps.fd] == c {
		if !p.stopped {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(ps.fd), nil)
		}
		p.byFD[ps.fd] = nil
	}
	ps.resident = false
}

// unlistLocked takes c off the deadline list: it is no longer idle.
func (p *parker) unlistLocked(c *conn) {
	ps := &c.park
	if ps.prev == nil {
		p.head = ps.next
	} else {
		ps.prev.park.next = ps.next
	}
	if ps.next == nil {
		p.tail = ps.prev
	} else {
		ps.next.park.prev = ps.prev
	}
	ps.prev, ps.next, ps.parked = nil, nil, false
}

// armLocked makes the poller's wait end by the earliest idle deadline. It
// only ever brings the wait's deadline forward: moving a runtime timer on
// every request that leaves the list would cost more than the odd early
// wake-up, after which sweep finds nothing due and arms the next deadline.
func (p *parker) armLocked() {
	if p.head == nil || p.stopped {
		return
	}
	d := p.head.park.deadline
	if d.IsZero() || !p.deadline.IsZero() && !d.Before(p.deadline) {
		return
	}
	p.deadline = d
	p.poke() // the poller may be waiting for a later deadline, or none
}

// run is the poller goroutine; runner is its generation. A runner that a
// handoff replaced (evloop_linux.go) ends once it is back from the
// connection it was serving.
//
// It waits in epoll_wait itself, holding its thread, rather than in Go's
// netpoller: the netpoller would add a second epoll_wait and a goroutine
// wake-up to every batch of requests, a measurable share of a small
// keep-alive response (see fdconn_linux.go for the other share).
//
// rest is what a replaced runner left of its batch. The new runner serves
// it before it polls: left to level-triggering, those events would come
// back only after everything epoll had queued behind them, and if each
// runner is replaced after one connection (a flood of clients that do not
// read their responses) a connection could wait for all of them.
func (p *parker) run(runner uint32, rest []syscall.EpollEvent) {
	if len(rest) > 0 && !p.wake(rest, runner) {
		return
	}
	events := make([]syscall.EpollEvent, parkBatch)
	for {
		ms, stop := p.waitMillis()
		if stop {
			close(p.done)
			return
		}
		if ms == 0 {
			// Due now: a poller kept busy by ready connections must
			// still close the idle ones in time.
			p.sweep()
			continue
		}
		n, err := syscall.EpollWait(p.epfd, events, ms)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			p.fail(os.NewSyscallError("epoll_wait", err))
			close(p.done)
			return
		case n == 0:
			p.sweep()
		default:
			if !p.wake(events[:n], runner) {
				return
			}
		}
	}
}

// wake serves the connections that have input (or an end of stream or
// error, which their read will report): a resident connection on this
// goroutine, any other on a goroutine started for it. An event whose
// registration is gone (drain or the sweep took the connection first,
// perhaps the descriptor is another connection's now) is dropped. It
// reports false when this runner was replaced while it served; the
// replacement then has the rest of events.
func (p *parker) wake(events []syscall.EpollEvent, runner uint32) bool {
	for i, ev := range events {
		if int(ev.Fd) == p.pokeR {
			var buf [64]byte
			_, _ = syscall.Read(p.pokeR, buf[:])
			continue
		}
		p.mu.Lock()
		c := p.lookupLocked(ev)
		if c == nil {
			p.mu.Unlock()
			continue
		}
		first := c.reqCount == 0
		if !c.park.resident || !c.inlineNow(first) {
			p.unparkLocked(c)
			c.park.ready = true
			p.mu.Unlock()
			go c.serve()
			continue
		}
		p.unlistLocked(c)
		p.rest, p.first = events[i+1:], first
		p.mu.Unlock()
		if !p.serveHere(c, runner, first) {
			return false // the new runner has the rest of the batch
		}
	}
	p.mu.Lock()
	p.armLocked()
	p.mu.Unlock()
	return true
}

// lookupLocked finds the parked connection an event is for.
func (p *parker) lookupLocked(ev syscall.EpollEvent) *conn {
	fd := int(ev.Fd)
	if fd < 0 || fd >= len(p.byFD) {
		return nil
	}
	c := p.byFD[fd]
	if c == nil || c.park.gen != uint32(ev.Pad) || !c.park.parked {
		return nil
	}
	return c
}

// sweep closes parked connections whose idle timeout has passed, silently,
// as a waiting connection's timeout would.
func (p *parker) sweep() {
	now := time.Now()
	var expired []*conn
	p.mu.Lock()
	p.deadline = time.Time{} // it has passed
	for c := p.head; c != nil && !c.park.deadline.IsZero() && !c.park.deadline.After(now); c = p.head {
		p.unparkLocked(c)
		expired = append(expired, c)
	}
	if p.head != nil {
		p.deadline = p.head.park.deadline // the poller itself sweeps: no poke
	}
	p.mu.Unlock()
	for _, c := range expired {
		// finishConn may wait (closing the socket, close handlers);
		// the poller must not.
		go c.finishConn()
	}
}

// fail gives up parking after an unexpected epoll error: parked
// connections go back to waiting on goroutines of their own.
func (p *parker) fail(err error) {
	p.broken.Store(true)
	p.srv.log.Error("httpev: idle connection poller failed; connections no longer park", "err", err)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := p.head; c != nil; c = p.head {
		p.unparkLocked(c)
		go c.serve()
	}
}

// drain takes a parked connection out for Server.drain (which holds
// Server.mu and has marked c closing): hard closes it; graceful gives it a
// goroutine, which serves a request that had already arrived or arrives in
// the drain window, and closes it otherwise. It reports
// false when c was not parked.
func (p *parker) drain(c *conn, hard bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.park.parked {
		return false
	}
	p.unparkLocked(c)
	p.armLocked()
	if hard {
		go c.finishConn()
		return true
	}
	go func() {
		// serve closes it unless a request had arrived or the drain
		// window (drain.go) lets it wait for one.
		c.park.ready = c.hasPending()
		c.serve()
	}()
	return true
}

// stop ends the poller. Shutdown and Close call it once drain has taken
// every parked connection out, and park refuses new ones by then.
func (p *parker) stop() {
	p.mu.Lock()
	started, done := p.started, p.done
	p.stopped = true
	p.mu.Unlock()
	if !started {
		return
	}
	p.poke()
	<-done
	_ = syscall.Close(p.epfd)
	_ = syscall.Close(p.pokeR)
	_ = syscall.Close(p.pokeW)
}
