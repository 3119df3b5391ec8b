package poller

import (
	"sync/atomic"
	"time"
)

// The handoff (rules 2 and 3 of policy.go): a runner serving one
// connection too long, or about to wait for it, is replaced by a new
// runner, which takes over the epoll set and the rest of the batch; the
// old one goes on serving that connection as its goroutine.
//
// The watcher goroutine checks every tick and starts the replacements,
// also those asked for from under locks (Lost, Release): no goroutine is
// started while a lock is held.

// handState is the runner's side of the handoff.
type handState struct {
	runner  uint32  // guarded by Poller.mu: generation of the current runner
	rest    []event // guarded by Poller.mu: the events after the one being served; a replacement takes them over
	fresh   bool    // guarded by Poller.mu: the one being served has served no request before
	pending bool    // guarded by Poller.mu: a replacement is to be started by the watcher
	left    *Entry  // guarded by Poller.mu: the connection the last handoff left to its goroutine, told by the watcher (Client.Detached)

	seq     atomic.Uint64         // counts connections served on a runner
	serving atomic.Pointer[Entry] // the one being served now, nil between them and once it waits in the set again (waitsAgainLocked)
	asleep  atomic.Bool           // the watcher waits for wake
	wake    chan struct{}         // wakes a sleeping watcher
	spawn   chan struct{}         // asks the watcher to start the pending runner
}

// Serving reports whether a runner is serving e right now (tests: a
// callback asks whether it runs on the poller).
func (p *Poller) Serving(e *Entry) bool { return p.hand.serving.Load() == e }

// Lost takes e out of the set when its descriptor fd goes to Go (a read
// or write of it is about to wait), and hands the runner over if it is
// serving e (rule 3). It is called under the connection's descriptor lock
// (rawfd.Hooks.Leaving), which comes before the poller's.
func (p *Poller) Lost(e *Entry, fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if (e.resident || e.watch) && int(e.fd) == fd {
		p.deregisterLocked(e)
	}
	if p.hand.serving.Load() == e {
		p.handoffLocked(true)
	}
}

// Release hands the runner over at once if it is serving e, whose request
// outlives its callback (Keep: a long poll, a stream; rule 3).
func (p *Poller) Release(e *Entry) {
	if p.hand.serving.Load() != e {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hand.serving.Load() == e {
		p.handoffLocked(true)
	}
}

// waitsAgainLocked notes that e waits in the set again (Reside): if a
// runner was serving it, that serve is over, though the runner has yet to
// return from Serve and take the lock (serveHere). A handoff in that window
// would take e's descriptor out of the set while e stays listed as
// waiting: its next request would be reported to nobody, and the client
// would wait for the idle timeout (TestHandoffAfterResideKeepsRegistration;
// on a loaded 2-core machine 12 keep-alive clients for 400 ms met it in 3
// runs of 450).
func (p *Poller) waitsAgainLocked(e *Entry) {
	if p.hand.serving.Load() == e {
		p.hand.serving.Store(nil)
	}
}

// watch is the watcher goroutine: it starts the replacement runners asked
// for, and hands the work to a new runner when the current one has served
// one connection for a whole tick. With nothing served for WatchIdleTicks
// it sleeps until serveHere wakes it, so an idle server runs no timer.
func (p *Poller) watch() {
	h := &p.hand
	tick := p.tun.Tick
	t := p.newTicker(tick)
	defer t.Stop()
	var last uint64 // the serve seen busy at the last tick; 0 for none
	idle := 0
	for {
		select {
		case <-t.C():
		case <-h.spawn:
			p.spawnPending()
			continue
		case <-p.done:
			return
		}
		sleep := p.onTick(&last, &idle)
		t.Handled()
		if !sleep {
			continue
		}
		t.Stop()
		h.asleep.Store(true)
		for h.serving.Load() == nil {
			select {
			case <-h.wake:
			case <-h.spawn:
				p.spawnPending()
				continue
			case <-p.done:
				return
			}
			break
		}
		h.asleep.Store(false)
		idle = 0
		t.Reset(tick)
	}
}

// onTick is one tick of the watcher: it hands the runner over if it
// serves the connection it served at the last tick, and reports whether
// the watcher should sleep (WatchIdleTicks with nothing served).
func (p *Poller) onTick(last *uint64, idle *int) (sleep bool) {
	h := &p.hand
	seq := h.seq.Load()
	if h.serving.Load() == nil {
		*last = 0
		*idle++
		return *idle >= p.tun.WatchIdleTicks
	}
	*idle = 0
	if seq == *last {
		p.handoff(seq)
	}
	*last = seq
	return false
}

// ticker is the watcher's clock: a time.Ticker, or one a test drives
// (SetTicker) so that the handoff rules are tested tick by tick.
type ticker interface {
	C() <-chan time.Time
	Handled() // the watcher is done with the tick it took
	Stop()
	Reset(d time.Duration)
}

type realTicker struct{ *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.Ticker.C }
func (t realTicker) Handled()            {}

// newTicker starts the watcher's ticker.
func (p *Poller) newTicker(d time.Duration) ticker {
	if p.tickers != nil {
		return p.tickers(d)
	}
	return realTicker{time.NewTicker(d)}
}

// handoff replaces the runner if it is still serving the connection the
// watcher saw at its last tick.
func (p *Poller) handoff(seq uint64) {
	p.mu.Lock()
	h := &p.hand
	if h.serving.Load() != nil && h.seq.Load() == seq {
		p.handoffLocked(false)
	}
	p.mu.Unlock()
	p.spawnPending()
}

// handoffLocked replaces the runner serving h.serving: that connection
// leaves the set (its goroutine, the old runner, goes on serving it) and
// a new runner is asked of the watcher. waits tells that the connection
// must wait for its socket or was kept (rule 3), and for a fresh one
// starts the back-off of first requests; one the watcher hands over counts
// as a tick in their average (rule 4).
func (p *Poller) handoffLocked(waits bool) {
	h := &p.hand
	e := h.serving.Load()
	if h.fresh {
		g := e.client.Group()
		if now := time.Now(); waits {
			g.first.start(now, &p.tun)
		} else {
			g.first.note(defaultTick, now, &p.tun)
		}
	}
	p.deregisterLocked(e)
	h.serving.Store(nil)
	h.left = e
	h.runner++
	p.handoffs.Add(1)
	if p.stopped {
		// No new runner; Stop waits for one to end, and the old one
		// will not poll again.
		h.rest = nil
		close(p.done)
		return
	}
	h.pending = true
	select {
	case h.spawn <- struct{}{}:
	default: // already asked
	}
}

// spawnPending starts the runner a handoff asked for, if any, and tells
// the connection left behind.
func (p *Poller) spawnPending() {
	p.mu.Lock()
	h := &p.hand
	if !h.pending {
		p.mu.Unlock()
		return
	}
	h.pending = false
	runner, rest, left := h.runner, h.rest, h.left
	h.rest, h.left = nil, nil
	p.mu.Unlock()
	go p.run(runner, rest)
	if left != nil {
		left.client.Detached()
	}
}
