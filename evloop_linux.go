//go:build linux

package httpev

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// The event loop: the requests of Threading-on TCP listeners are served
// on the parker's poller goroutine.
//
// A goroutine per connection costs, for every request, a wake-up through
// Go's netpoller, a read that finds nothing (EAGAIN) before the goroutine
// parks again, and the scheduler's work between them: about a fifth of
// the CPU of a small keep-alive response. So a plain connection is in the
// parker's epoll set, level-triggered ("resident"), from its accept
// (accept_linux.go) or else from its first response, and the poller, when
// epoll_wait reports it readable, reads, parses, runs the callback and
// writes the response itself, then takes the next ready connection: one
// epoll_wait for a batch of requests, one read and one write per request,
// no goroutine switch.
//
// Callbacks may block, and with Threading on they may count on running
// concurrently with others. Four guards keep one connection from holding
// up the others:
//
//   - A read or write that would wait (a head or body still arriving, a
//     client not reading its response) hands the socket back to Go
//     (fdConn) and, if the poller is the one about to wait, hands the
//     poller's work to a new goroutine at once (forgetFD). So does Keep,
//     a request that outlives its callback (letGo).
//
//   - Handoff: a watcher checks every handoffTick whether the poller has
//     been serving one connection for a whole tick. If so, it takes that
//     connection out of the epoll set (its goroutine keeps serving it, as
//     a connection goroutine) and starts a new poller goroutine. A blocked
//     callback (a long poll, a slow query, a slow client's full socket
//     buffer) thus delays the poller's other connections by at most two
//     ticks, once.
//
//   - Back-off: when the listener's requests average more than inlineSlow
//     on the poller (backoff.note), inline serving is off for the listener
//     for slowBackoff: its ready connections then each get a goroutine
//     again, as on other systems. Applications whose callbacks wait on
//     databases or other servers thus keep their concurrency, and pay a
//     few dozen slow requests per second on the poller for the check.
//
//   - First requests (of connections accepted outside Go's netpoller,
//     accept_linux.go) have a back-off of their own, which also starts as
//     soon as one of them must wait for its socket: for slowBackoff, new
//     connections are then accepted and served as on other systems. A
//     flood of clients that send a head in pieces or do not read their
//     responses would otherwise pass through the poller one after another,
//     each handed over, and the connections behind them in the epoll set
//     waited for all of them (up to 0.3-0.9 s for a normal client among
//     1,000 slow readers, where goroutines keep it to tens of ms).
//     Keep-alive connections that proved quick stay on the poller.
//
// TLS, in-memory and Threading-off connections are never resident (a
// Threading-off callback runs on the server's loop goroutine, which the
// poller would only wait for).
const (
	handoffTick    = time.Millisecond
	inlineSlow     = 200 * time.Microsecond
	slowBackoff    = time.Second
	watchIdleTicks = 100 // the watcher sleeps after this many ticks with nothing served

	inlineAvgWeight = 64 // the moving average's 1/weight of each new request
)

// handoffState is the poller's side of the handoff.
type handoffState struct {
	tick, slow time.Duration // handoffTick and inlineSlow unless a test set others before the first park

	seq      atomic.Uint64        // counts connections served on a poller goroutine
	serving  atomic.Pointer[conn] // the one being served now, nil between them
	asleep   atomic.Bool          // the watcher waits for wake
	wake     chan struct{}
	watching bool // p.mu: the watcher has started
}

// tick is the watcher's period.
func (p *parker) tick() time.Duration {
	if t := p.handoffs.tick; t > 0 {
		return t
	}
	return handoffTick
}

// slow is the back-off's threshold.
func (p *parker) slow() time.Duration {
	if t := p.handoffs.slow; t > 0 {
		return t
	}
	return inlineSlow
}

// inline reports whether this connection, going idle at now, should wait
// for its next request in the epoll set and be served by the poller.
func (c *conn) inline(now time.Time) bool {
	if !c.l.opts.Threading || c.l.inline.on(now) {
		return false
	}
	switch c.nc.(type) {
	case *net.TCPConn, *fdConn:
		return true
	}
	return false
}

// inlineNow reports whether a ready connection is served on the poller
// now, or given a goroutine because of a back-off: the listener's, or for
// a first request the one of first requests.
func (c *conn) inlineNow(first bool) bool {
	if c.l.inline.until.Load() == 0 && c.l.first.until.Load() == 0 {
		return true // never backed off: no clock read
	}
	now := time.Now()
	return !c.l.inline.on(now) && !(first && c.l.first.on(now))
}

// parkResident waits for the next request in the epoll set (see above).
// The read buffer goes back to the pool meanwhile.
func (c *conn) parkResident(since time.Time, timeout time.Duration) (bool, error) {
	cr := &c.cr
	c.srv.returnReadBuf(cr)
	if c.srv.park.parkResident(c, deadlineAfter(since, timeout)) {
		return true, errParked
	}
	// Not parked (a shutdown began, say): wait here, until the drain
	// window ends once closing (setIdleDeadline).
	return c.readIdleWait(timeout)
}

// parkResident registers c (once; it stays registered from request to
// request) and lists it as idle until deadline. It fails once c is
// closing: drain has been, or is about to be, through it, as park.
func (p *parker) parkResident(c *conn, deadline time.Time) bool {
	fc := c.detach()
	if fc == nil {
		return false
	}
	fd := fc.rawFD() // before p.mu: fdConn's lock comes first
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closing.Load() || p.stopped || p.broken.Load() || !p.startLocked() || fd < 0 {
		return false
	}
	ps := &c.park
	if ps.resident && ps.fd != int32(fd) {
		p.deregisterLocked(c) // the descriptor changed since (through Go and back)
	}
	if !ps.resident {
		p.gen++
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd), Pad: int32(p.gen)}
		if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			p.srv.logDebug("httpev: cannot park connection", "err", err)
			return false
		}
		ps.fd, ps.gen, ps.resident = int32(fd), p.gen, true
		if fd >= len(p.byFD) {
			p.byFD = append(p.byFD, make([]*conn, fd+1-len(p.byFD))...)
		}
		p.byFD[fd] = c
	}
	ps.parked, ps.deadline = true, deadline
	p.insertLocked(c)
	if !p.handoffs.watching {
		p.handoffs.watching = true
		p.handoffs.wake = make(chan struct{}, 1)
		go p.watch()
	}
	return true
}

// isRaw reports whether c's socket is out of Go's netpoller (an fdConn).
func (c *conn) isRaw() bool {
	_, ok := c.nc.(*fdConn)
	return ok
}

// detach makes c's socket an fdConn, out of Go's netpoller, once; nil
// when it cannot be (not plain TCP).
func (c *conn) detach() *fdConn {
	if fc, ok := c.nc.(*fdConn); ok {
		return fc
	}
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	fc, err := detachTCP(tc, func(fd int) { c.srv.park.forgetFD(c, fd) })
	if err != nil {
		c.srv.logDebug("httpev: cannot detach connection", "err", err)
		return nil
	}
	s := c.srv
	s.mu.Lock() // Server.drain reads c.nc under it
	c.nc = fc
	s.mu.Unlock()
	c.cr.conn = fc
	c.idleWait.rc, _ = fc.SyscallConn()
	return fc
}

// forgetFD takes c out of the epoll set when its descriptor fd goes to Go
// (fdConn.goConnLocked): a read or write of c is about to wait. If the
// poller is serving c, that wait would hold up every other connection
// until the watcher's handoff, so the handoff happens now: a slow client
// (a head trickling in, a full socket buffer) costs the poller a goroutine
// start, not a millisecond.
func (p *parker) forgetFD(c *conn, fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.park.resident && int(c.park.fd) == fd {
		p.deregisterLocked(c)
	}
	if p.handoffs.serving.Load() == c {
		p.handoffLocked(true)
	}
}

// letGo hands the poller over at once if it is serving c, whose request
// outlives its callback (Keep: a long poll, a stream): waiting for it there
// would hold up every other connection until the watcher's tick. Its
// goroutine (the old runner) serves it on and parks it again afterwards.
//
// A kept first request starts the first-request back-off as a socket that
// must wait does: streams to a flood of clients that do not read passed
// through the poller one by one otherwise, and in the hostile soak held a
// normal client up to 2.5 s (19-98 ms with the back-off).
func (p *parker) letGo(c *conn) {
	if p.handoffs.serving.Load() != c {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handoffs.serving.Load() == c {
		p.handoffLocked(true)
	}
}

// forget takes a resident connection out of the epoll set before its
// socket closes (finishConn): the set must never hold a descriptor number
// that a new connection may get.
func (p *parker) forget(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.park.resident {
		p.deregisterLocked(c)
	}
}

// serveHere serves a resident connection on the poller goroutine until it
// parks again or ends; first tells that it has not served a request yet.
// It reports false when a handoff replaced this runner meanwhile: the
// caller must then stop polling.
func (p *parker) serveHere(c *conn, runner uint32, first bool) bool {
	h := &p.handoffs
	l := c.l
	h.seq.Add(1) // before serving is set: the watcher never sees a new serve with an old count
	h.serving.Store(c)
	if h.asleep.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	c.park.ready = true
	c.serve()
	end := time.Now()
	p.mu.Lock()
	replaced := p.runner != runner
	if !replaced {
		h.serving.Store(nil)
		p.rest = nil
	}
	p.mu.Unlock()
	switch {
	case !first:
		l.inline.note(end.Sub(start), end, p.slow())
	case !replaced: // a first request handed over was counted then (handoffLocked)
		l.first.note(end.Sub(start), end, p.slow())
	}
	return !replaced
}

// note keeps the moving average of how long the listener's requests take
// on the poller, and starts the back-off when it passes slow. An average,
// not one slow request: on a busy machine the odd request is slow because
// the poller's thread was descheduled, not because of its callback; with
// requests that block, the average rises within a few dozen of them (one
// that takes the handoff's milliseconds weighs that much more).
func (b *backoff) note(took time.Duration, now time.Time, slow time.Duration) {
	avg := b.avg.Load()
	avg += (int64(took) - avg) / inlineAvgWeight
	if avg > int64(slow) {
		b.start(now)
		avg = 0
	}
	b.avg.Store(avg)
}

// start turns the back-off on for slowBackoff from now.
func (b *backoff) start(now time.Time) {
	b.until.Store(now.Add(slowBackoff).UnixNano())
}

// on reports whether the back-off is on at now.
func (b *backoff) on(now time.Time) bool {
	u := b.until.Load()
	return u != 0 && now.UnixNano() < u
}

// watch is the watcher goroutine: it hands the poller's work to a new
// runner when the current one has served one connection for a whole tick.
// With nothing served for watchIdleTicks it sleeps until serveHere wakes
// it, so an idle server has no timer running.
func (p *parker) watch() {
	h := &p.handoffs
	tick := p.tick()
	t := time.NewTicker(tick)
	defer t.Stop()
	var last uint64 // the serve seen busy at the last tick; 0 for none
	idle := 0
	for {
		select {
		case <-t.C:
		case <-p.done:
			return
		}
		seq := h.seq.Load()
		if h.serving.Load() == nil {
			last = 0
			if idle++; idle < watchIdleTicks {
				continue
			}
			t.Stop()
			h.asleep.Store(true)
			if h.serving.Load() == nil {
				select {
				case <-h.wake:
				case <-p.done:
					return
				}
			}
			h.asleep.Store(false)
			idle = 0
			t.Reset(tick)
			continue
		}
		idle = 0
		if seq == last {
			p.handoff(seq)
		}
		last = seq
	}
}

// handoff starts a new runner if the current one is still serving the
// connection the watcher saw at its last tick. That connection leaves the
// epoll set, since its goroutine (the old runner) goes on serving it; the
// old runner ends when it is back (serveHere reports false).
func (p *parker) handoff(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := &p.handoffs
	if h.serving.Load() == nil || h.seq.Load() != seq {
		return
	}
	p.handoffLocked(false)
}

// handoffLocked replaces the runner serving h.serving (see handoff);
// waits tells that it is handed over because its socket must wait, or its
// request was kept (letGo).
//
// A first request handed over counts in the listener's first-request
// back-off: one that must wait for its socket starts it (see above), one
// that took a tick counts as a tick in the average, since the poller's
// thread may just have been descheduled for a moment.
func (p *parker) handoffLocked(waits bool) {
	h := &p.handoffs
	c := h.serving.Load()
	if p.first {
		if now := time.Now(); waits {
			c.l.first.start(now)
		} else {
			c.l.first.note(handoffTick, now, p.slow())
		}
	}
	p.deregisterLocked(c)
	h.serving.Store(nil)
	p.runner++
	rest := p.rest
	p.rest = nil
	if p.stopped {
		// No new poller; stop waits for one to end, and the old one
		// will not poll again.
		close(p.done)
		return
	}
	go p.run(p.runner, rest)
}
