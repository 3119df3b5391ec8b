package poller

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Poller holds the waiting connections of one server in one epoll set,
// watched by one goroutine (the runner) that waits in epoll_wait itself,
// holding its thread, rather than in Go's netpoller: the netpoller would add
// a second epoll_wait and a goroutine wake-up to every batch of requests.
// The zero value is ready once Init has been called; it starts on first use
// (Start) and ends with Stop.
type Poller struct {
	tun Tuning // set by Init and SetTuning before Start; read-only after
	log *slog.Logger

	mu       sync.Mutex
	ep       epoll     // guarded by mu (its descriptors are fixed once started)
	started  bool      // guarded by mu
	stopped  bool      // guarded by mu
	gen      uint32    // guarded by mu: generation of the last registration
	byFD     []*Entry  // guarded by mu: registered entries by descriptor (8 bytes per number, never shrunk)
	head     *Entry    // guarded by mu: the idle list, earliest deadline first
	tail     *Entry    // guarded by mu
	deadline time.Time // guarded by mu: the wait's current deadline; zero when none is armed
	done     chan struct{}
	hand     handState                  // the runner and its replacement (handoff_linux.go)
	tickers  func(time.Duration) ticker // set before Start by tests (SetTicker); nil: time.Ticker

	broken atomic.Bool // epoll unavailable or failed: nothing parks any more
	live   atomic.Bool // started and not stopped (Started), written under mu

	registrations atomic.Uint64
	inline        atomic.Uint64
	handoffs      atomic.Uint64
	watches       atomic.Uint64
	rearms        atomic.Uint64
}

// Entry is one connection's place in the poller. A connection embeds one
// and passes it to every call; its fields are the poller's.
type Entry struct {
	client     Client
	fd         int32     // guarded by Poller.mu: registered descriptor
	gen        uint32    // guarded by Poller.mu: tells a stale event from this registration's
	deadline   time.Time // guarded by Poller.mu: idle timeout; zero for none
	prev, next *Entry    // guarded by Poller.mu: the idle list
	listed     bool      // guarded by Poller.mu: idle, waiting for input, owned by the poller
	resident   bool      // guarded by Poller.mu: registered level-triggered from request to request
	watch      bool      // guarded by Poller.mu: registered for the client watch (watch_linux.go)
	armed      bool      // guarded by Poller.mu: that watch registration has not reported yet (one-shot)
	// gone is the armed watch's callback, nil when none: set under
	// Poller.mu, taken (Swap) by the runner under it, cleared by Unwatch
	// without it, so a request's end costs no turn of the poller's mutex.
	gone atomic.Pointer[func()]
}

// Init ties e to its connection; call it once before e is used.
func (e *Entry) Init(c Client) { e.client = c }

// Client is what the poller asks of a connection. It calls Serve, Resume
// and Expire with no lock held; Group and Fresh under its mutex, so they
// must not lock or block.
type Client interface {
	// Serve serves the connection's ready input on the calling goroutine,
	// a runner's, until the connection waits again (Reside) or ends, or
	// must wait on a goroutine of its own: it then reports true, and the
	// poller, once it no longer counts the connection as being served,
	// starts that goroutine (Resume). When the runner is replaced meanwhile
	// (a handoff), Serve just goes on: the goroutine is the connection's
	// from then on and ends with Serve.
	Serve() (handOff bool)
	// Resume starts the connection's own goroutine; its input is ready
	// (or its idle wait ends at once: an end of stream, an error).
	Resume()
	// Detached tells that the runner serving the connection was replaced
	// (a handoff): the goroutine serving it is the connection's own now.
	// It is called on the watcher's goroutine, perhaps once the
	// connection has moved on.
	Detached()
	// Expire closes a connection whose idle timeout passed in the set.
	// It is called on a goroutine of its own.
	Expire()
	// Group is the policy state of the connection's listener.
	Group() *Group
	// Fresh reports whether the connection has served no request yet.
	Fresh() bool
}

// Counts are the poller's counters, for tests and statistics.
type Counts struct {
	Listed        int    // connections waiting in the set now
	Resident      int    // connections registered level-triggered now, idle or being served
	Parked        int    // connections registered one-shot now (idle, no goroutine)
	Registrations uint64 // descriptors added to the set so far
	Inline        uint64 // connections served on a runner so far
	Handoffs      uint64 // runners replaced so far
	Watches       uint64 // client watches registered so far (Watch)
	Rearms        uint64 // client watches that changed the registration (EPOLL_CTL_MOD) so far
}

// Init sets the tuning (zero fields: defaults) and where failures are
// logged.
func (p *Poller) Init(t Tuning, log *slog.Logger) {
	p.tun, p.log = t.withDefaults(), log
}

// SetTuning replaces the tuning; only before the poller starts (tests).
func (p *Poller) SetTuning(t Tuning) { p.tun = t.withDefaults() }

// Tuning returns the tuning in force.
func (p *Poller) Tuning() *Tuning { return &p.tun }

// Started reports whether the poller runs (started, not stopped, not
// broken).
func (p *Poller) Started() bool { return p.live.Load() && !p.broken.Load() }

// Broken reports whether the poller cannot be used (epoll failed).
func (p *Poller) Broken() bool { return p.broken.Load() }

// Start creates the epoll set and starts the runner and the watcher, once;
// it reports whether the poller runs. Call it with no lock held.
func (p *Poller) Start() bool {
	p.mu.Lock()
	if p.started || p.stopped || p.broken.Load() {
		ok := p.started && !p.stopped
		p.mu.Unlock()
		return ok
	}
	ep, err := openEpoll()
	if err != nil {
		p.broken.Store(true)
		p.mu.Unlock()
		p.log.Warn("httpev: idle connections cannot park; each keeps its goroutine", "err", err)
		return false
	}
	p.ep, p.done, p.started = ep, make(chan struct{}), true
	p.live.Store(true)
	p.hand.spawn = make(chan struct{}, 1)
	p.hand.wake = make(chan struct{}, 1)
	runner := p.hand.runner
	p.mu.Unlock()
	go p.run(runner, nil)
	go p.watch()
	return true
}

// Park registers e's descriptor one-shot and lists e as idle until
// deadline: the first readiness resumes its goroutine (Client.Resume),
// the deadline expires it. It fails when the poller is not started
// (Start), stopped or broken. The caller's goroutine must not touch the
// connection after a true return.
func (p *Poller) Park(e *Entry, fd int, deadline time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.stopped || p.broken.Load() || fd < 0 {
		return false
	}
	if !p.registerLocked(e, fd, true) {
		return false
	}
	e.deadline = deadline
	p.insertLocked(e)
	return true
}

// Reside lists e as idle until deadline, registering its descriptor
// level-triggered once (it stays registered from request to request): when
// input comes a runner serves it (Client.Serve), unless a back-off gives
// it a goroutine (Client.Resume). It fails as Park does, and when keep
// reports false under the poller's lock (the connection began to close).
func (p *Poller) Reside(e *Entry, fd int, deadline time.Time, keep func() bool) bool {
	p.mu.Lock()
	if !p.started {
		p.mu.Unlock()
		if !p.Start() {
			return false
		}
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	if !keep() || p.stopped || p.broken.Load() || fd < 0 {
		return false
	}
	if e.resident && e.fd != int32(fd) {
		p.deregisterLocked(e) // the descriptor changed since (through Go and back)
	}
	if !e.resident {
		if !p.registerLocked(e, fd, false) {
			return false
		}
		e.resident = true
	}
	e.deadline = deadline
	p.insertLocked(e)
	p.waitsAgainLocked(e)
	return true
}

// registerLocked adds fd to the set for e.
// A descriptor still registered for the client watch of the request
// that just ended is changed, not added again.
func (p *Poller) registerLocked(e *Entry, fd int, oneshot bool) bool {
	p.gen++
	if e.watch && p.registeredLocked(e, fd) {
		e.watch, e.armed = false, false
		e.gone.Store(nil)
		if err := p.ep.modify(fd, waitEvents(oneshot), p.gen); err == nil {
			e.gen = p.gen
			return true
		}
		p.deregisterLocked(e)
	}
	if err := p.ep.add(fd, oneshot, p.gen); err != nil {
		p.log.Debug("httpev: cannot park connection", "err", err)
		return false
	}
	p.registrations.Add(1)
	p.noteLocked(e, fd)
	return true
}

// noteLocked records that fd is registered for e, with the generation
// just used.
func (p *Poller) noteLocked(e *Entry, fd int) {
	e.fd, e.gen = int32(fd), p.gen
	if fd >= len(p.byFD) {
		p.byFD = append(p.byFD, make([]*Entry, fd+1-len(p.byFD))...)
	}
	p.byFD[fd] = e
}

// deregisterLocked takes e's descriptor out of the set.
func (p *Poller) deregisterLocked(e *Entry) {
	if int(e.fd) < len(p.byFD) && p.byFD[e.fd] == e {
		if !p.stopped {
			p.ep.del(int(e.fd))
		}
		p.byFD[e.fd] = nil
	}
	e.resident, e.watch, e.armed = false, false, false
	e.gone.Store(nil)
}

// insertLocked links e into the idle list. Connections go idle roughly in
// deadline order, so the walk from the tail is short.
func (p *Poller) insertLocked(e *Entry) {
	at := p.tail
	for at != nil && at.deadline.After(e.deadline) {
		at = at.prev
	}
	e.prev, e.listed = at, true
	if at == nil {
		e.next, p.head = p.head, e
	} else {
		e.next, at.next = at.next, e
	}
	if e.next == nil {
		p.tail = e
	} else {
		e.next.prev = e
	}
	if p.head == e {
		p.armLocked()
	}
}

// unlistLocked takes e off the idle list: it is no longer idle.
func (p *Poller) unlistLocked(e *Entry) {
	if e.prev == nil {
		p.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		p.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	e.prev, e.next, e.listed = nil, nil, false
}

// takeLocked takes e out of the set and the list: the caller owns the
// connection and starts its goroutine or finishes it.
func (p *Poller) takeLocked(e *Entry) {
	p.deregisterLocked(e)
	p.unlistLocked(e)
}

// armLocked makes the wait end by the earliest idle deadline. It only ever
// brings the wait's deadline forward: moving it on every request that
// leaves the list would cost more than the odd early wake-up, after which
// sweep finds nothing due and arms the next deadline.
func (p *Poller) armLocked() {
	if p.head == nil || p.stopped || !p.started {
		return
	}
	d := p.head.deadline
	if d.IsZero() || !p.deadline.IsZero() && !d.Before(p.deadline) {
		return
	}
	p.deadline = d
	p.ep.poke() // the runner may be waiting for a later deadline, or none
}

// waitMillis is the next epoll_wait timeout: until the armed deadline, -1
// for none; stop reports that the runner must end.
func (p *Poller) waitMillis() (ms int, stop bool) {
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

// run is a runner goroutine; runner is its generation. A runner that a
// handoff replaced ends once it is back from the connection it served.
// rest is what a replaced runner left of its batch (rule 6 of policy.go).
func (p *Poller) run(runner uint32, rest []event) {
	if len(rest) > 0 && !p.wake(rest, runner) {
		return
	}
	events := make([]event, p.tun.Batch)
	for {
		ms, stop := p.waitMillis()
		if stop {
			close(p.done)
			return
		}
		if ms == 0 {
			// Due now: a runner kept busy by ready connections must
			// still close the idle ones in time.
			p.sweep()
			continue
		}
		n, err := p.ep.wait(events, ms)
		switch {
		case err != nil:
			p.fail(err)
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
// error, which their read will report): a resident one on this runner, any
// other on a goroutine of its own. An event whose registration is gone (a
// drain or the sweep took the connection first, the descriptor may be
// another connection's now) is dropped. It reports false when this runner
// was replaced while it served; the replacement has the rest of events.
func (p *Poller) wake(events []event, runner uint32) bool {
	for i := range events {
		ev := &events[i]
		if p.ep.isPoke(ev) {
			continue
		}
		p.mu.Lock()
		if gone, was := p.watchEventLocked(ev); was {
			p.mu.Unlock()
			if gone != nil {
				go gone()
			}
			continue
		}
		e := p.lookupLocked(ev)
		if e == nil {
			p.mu.Unlock()
			continue
		}
		fresh := e.client.Fresh()
		if !e.resident || !e.client.Group().serveHere(fresh) {
			p.takeLocked(e)
			p.mu.Unlock()
			e.client.Resume()
			continue
		}
		p.unlistLocked(e)
		p.hand.rest, p.hand.fresh = events[i+1:], fresh
		p.mu.Unlock()
		if !p.serveHere(e, runner, fresh) {
			return false
		}
	}
	p.mu.Lock()
	p.armLocked()
	p.mu.Unlock()
	return true
}

// serveHere serves a resident connection on this runner until it waits
// again or ends. It reports false when a handoff replaced this runner
// meanwhile: the caller must then stop polling.
func (p *Poller) serveHere(e *Entry, runner uint32, fresh bool) bool {
	h := &p.hand
	g := e.client.Group()
	p.inline.Add(1)
	h.seq.Add(1) // before serving is set: the watcher never sees a new serve with an old count
	h.serving.Store(e)
	if h.asleep.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	handOff := e.client.Serve()
	end := time.Now()
	p.mu.Lock()
	replaced := h.runner != runner
	if !replaced {
		h.serving.Store(nil)
		h.rest = nil
	}
	p.mu.Unlock()
	if handOff {
		// After serving is cleared: the new goroutine's socket going to
		// Go (Lost) must not be taken for this runner having to wait.
		e.client.Resume()
	}
	switch {
	case !fresh:
		g.inline.note(end.Sub(start), end, &p.tun)
	case !replaced: // a fresh one handed over was counted then (handoffLocked)
		g.first.note(end.Sub(start), end, &p.tun)
	}
	return !replaced
}

// lookupLocked finds the waiting entry an event is for.
func (p *Poller) lookupLocked(ev *event) *Entry {
	fd := int(ev.Fd)
	if fd < 0 || fd >= len(p.byFD) {
		return nil
	}
	e := p.byFD[fd]
	if e == nil || e.gen != uint32(ev.Pad) || !e.listed {
		return nil
	}
	return e
}

// sweep expires waiting connections whose idle timeout has passed.
func (p *Poller) sweep() {
	now := time.Now()
	var expired []*Entry
	p.mu.Lock()
	p.deadline = time.Time{} // it has passed
	for e := p.head; e != nil && !e.deadline.IsZero() && !e.deadline.After(now); e = p.head {
		p.takeLocked(e)
		expired = append(expired, e)
	}
	if p.head != nil {
		p.deadline = p.head.deadline // the runner itself sweeps: no poke
	}
	p.mu.Unlock()
	for _, e := range expired {
		go e.client.Expire() // closing may wait; the runner must not
	}
}

// fail gives up after an unexpected epoll error: waiting connections go
// back to goroutines of their own.
func (p *Poller) fail(err error) {
	p.broken.Store(true)
	p.log.Error("httpev: idle connection poller failed; connections no longer park", "err", err)
	var back []*Entry
	p.mu.Lock()
	for e := p.head; e != nil; e = p.head {
		p.takeLocked(e)
		back = append(back, e)
	}
	p.mu.Unlock()
	for _, e := range back {
		e.client.Resume()
	}
}

// Drain takes a waiting connection out for a shutdown: it reports true
// when e was waiting, and the caller then owns the connection (serves
// what had arrived, or closes it).
func (p *Poller) Drain(e *Entry) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !e.listed {
		return false
	}
	p.takeLocked(e)
	p.armLocked()
	return true
}

// Forget takes e's descriptor out of the set before it closes: the set
// must never hold a number that a new connection may get.
func (p *Poller) Forget(e *Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deregisterLocked(e)
}

// Counts returns the counters and how many connections are in the set.
func (p *Poller) Counts() Counts {
	c := Counts{Registrations: p.registrations.Load(), Inline: p.inline.Load(), Handoffs: p.handoffs.Load(), Watches: p.watches.Load(), Rearms: p.rearms.Load()}
	p.mu.Lock()
	defer p.mu.Unlock()
	for e := p.head; e != nil; e = e.next {
		c.Listed++
	}
	// A walk rather than counters kept on the runner's path: Counts is
	// for statistics and tests, not per request.
	for _, e := range p.byFD {
		switch {
		case e == nil:
		case e.resident:
			c.Resident++
		case e.listed:
			c.Parked++
		}
	}
	return c
}

// Stop ends the poller. Call it once every waiting connection has been
// drained; Park and Reside fail from now on.
func (p *Poller) Stop() {
	p.mu.Lock()
	started, done := p.started, p.done
	p.stopped = true
	p.live.Store(false)
	if started && p.hand.pending {
		// The replaced runner will not poll again and no replacement
		// will start: nobody else closes done.
		p.hand.pending = false
		close(done)
	}
	p.mu.Unlock()
	if !started {
		return
	}
	p.ep.poke()
	<-done
	p.ep.close()
}
