package poller

import (
	"sync/atomic"
	"time"
)

// The policy: when a connection is served on the poller's goroutine and
// when it gets one of its own. The mechanism (poller_linux.go,
// handoff_linux.go) asks; the rules and every threshold are here.
//
// Rules, each with what it is for and the figure that keeps it:
//
//  1. Residence (Tuning.Slow, Tuning.Backoff, Tuning.AvgWeight): a
//     Threading-on TCP connection is served on the poller, from request to
//     request, while its listener's requests average under Slow there; past
//     it the listener's ready connections get goroutines for Backoff.
//     Serving on the poller saves a netpoller wake-up, a read that finds
//     nothing and a goroutine switch per request, about a fifth of the CPU
//     of a small keep-alive response (keep-alive GET 1.17-1.29x fasthttp
//     with it, bench/README). An average, not one slow request: on a busy
//     machine the odd request is slow because the thread was descheduled;
//     with requests that block, the average passes Slow within a few dozen
//     (14 requests of 1 ms from zero). It restarts from zero with each
//     back-off, so a listener whose requests stay slow pays those few
//     dozen per Backoff. For a callback that blocks 1 ms (bench/run --tfb
//     /sleep, 4 rounds of 3 s on the shared 2-core machine, helper 14's
//     findings of 2026-12-06) server CPU per request was 13.4-17.8 µs with
//     the poller against 13.8-15.5 µs without it (NoIdlePark): the
//     handoffs and back-offs cost about nothing over a goroutine per
//     connection there. Open: the values themselves (200 µs, 1/64, 1 s)
//     are not measured one against another, and whether the 1 ms tick
//     raises that scenario's p99 (about 3x fasthttp's in earlier runs)
//     could not be told on the busy machine (every server's p99 moved
//     between 3 and 120 ms from run to run): quiet-machine runs of
//     bench/run --tfb decide it.
//
//  2. Handoff (Tuning.Tick, Tuning.WatchIdleTicks): a watcher hands the
//     poller's other connections to a new runner when one connection has
//     been served for a whole tick, so a blocked callback delays them by at
//     most two ticks, once. The watcher sleeps after WatchIdleTicks ticks
//     with nothing served, so an idle server runs no timer.
//     (TestEvloopHandoff: a blocked callback, another connection served 18
//     requests meanwhile; the tick's length is rule 1's open question.)
//
//  3. Waiting hands over at once: a read or write that would wait (a head
//     still arriving, a client not reading) or a kept request (Keep) hands
//     the poller over without waiting for the tick: a slow client costs a
//     goroutine start, not a millisecond of every other connection's time.
//
//  4. First requests (the connections a raw listener accepted, which wait
//     for their first request on the poller) have a back-off of their own:
//     while it is on, new connections are accepted by Go and served on
//     goroutines. It starts at once when a first request must wait for its
//     socket or is kept (rule 3); a first request the watcher hands over
//     counts as one tick in the average. Decision: a kept first request
//     starts it, as one that must wait does (e08816a; 9bef394 had made it
//     count as a tick). Measured with scripts/soak's hostile run (1,000
//     slowloris and 1,000 slow readers, which ask for an endless stream,
//     beside one normal client), both rules alternating in one run, 4 runs
//     each, 2 shared cores under load (2026-12-06): with the rule the
//     normal client's p99 was 12-356 ms and its worst 27-367 ms; with a
//     kept first request counted as a tick, p99 178-631 ms and worst
//     643-973 ms (an earlier session, 5 runs each: worst 18-37 ms against
//     31-176 ms and up to 2.5 s). Without it the streams to clients that do
//     not read pass through the poller one by one. Keep-alive connections
//     that proved quick stay resident.
//
//  5. Idle parking (Tuning.Grace): a connection that is not resident
//     parks (one-shot, no goroutine) after Grace idle. Parking and waking
//     cost a goroutine exit and start and two epoll_ctl calls; a keep-alive
//     connection whose requests come less than 100 ms apart never pays
//     them, one idle longer gives back its goroutine stack (idle
//     connection 2.7 KB instead of about 8 KB, bench/README).
//
//  6. Batch (Tuning.Batch): events taken per epoll_wait. What a replaced
//     runner had left of its batch goes to its replacement first: left to
//     level-triggering those events came back behind everything epoll had
//     queued, and with a flood of slow readers a ready connection waited
//     for one handoff per connection ahead of it (TestEvloopHandoffKeepsOrder:
//     without the carry-over 99 of 210 slow readers were served before a
//     request that was ready ahead of them). 128 itself is not measured.

// Tuning holds every threshold of the poller. The zero value of a field
// means its default (DefaultTuning).
type Tuning struct {
	// Grace is how long a connection that is not resident waits on its
	// goroutine before it parks (rule 5). Default 100 ms.
	Grace time.Duration
	// Batch is how many events one epoll_wait takes (rule 6). Default 128.
	Batch int
	// Tick is the watcher's period (rule 2). Default 1 ms.
	Tick time.Duration
	// Slow is the average time on the poller past which a listener backs
	// off (rule 1). Default 200 µs.
	Slow time.Duration
	// Backoff is how long a back-off lasts (rules 1, 4). Default 1 s.
	Backoff time.Duration
	// WatchIdleTicks is how many empty ticks the watcher waits before it
	// sleeps (rule 2). Default 100.
	WatchIdleTicks int
	// AvgWeight: each request moves the average by 1/AvgWeight of its
	// difference (rule 1). Default 64.
	AvgWeight int64
}

// defaultTick is what a watcher's handoff counts in the average of first
// requests (rule 4), whatever tick a test sets: a tick in production.
const defaultTick = time.Millisecond

// DefaultTuning returns the defaults documented on Tuning.
func DefaultTuning() Tuning {
	return Tuning{
		Grace:          100 * time.Millisecond,
		Batch:          128,
		Tick:           defaultTick,
		Slow:           200 * time.Microsecond,
		Backoff:        time.Second,
		WatchIdleTicks: 100,
		AvgWeight:      64,
	}
}

// withDefaults fills the fields left zero.
func (t Tuning) withDefaults() Tuning {
	d := DefaultTuning()
	if t.Grace <= 0 {
		t.Grace = d.Grace
	}
	if t.Batch <= 0 {
		t.Batch = d.Batch
	}
	if t.Tick <= 0 {
		t.Tick = d.Tick
	}
	if t.Slow <= 0 {
		t.Slow = d.Slow
	}
	if t.Backoff <= 0 {
		t.Backoff = d.Backoff
	}
	if t.WatchIdleTicks <= 0 {
		t.WatchIdleTicks = d.WatchIdleTicks
	}
	if t.AvgWeight <= 0 {
		t.AvgWeight = d.AvgWeight
	}
	return t
}

// backoff is a moving average of how long requests take on the poller
// and, once it passes Tuning.Slow, the time until which such requests get
// goroutines instead. Lock-free: the poller and accept loops read it.
type backoff struct {
	avg    atomic.Int64  // nanoseconds
	until  atomic.Int64  // Unix nanoseconds; 0 before the first back-off
	starts atomic.Uint64 // back-offs started so far
}

// note counts a request that took took.
func (b *backoff) note(took time.Duration, now time.Time, t *Tuning) {
	avg := b.avg.Load()
	avg += (int64(took) - avg) / t.AvgWeight
	if avg > int64(t.Slow) {
		b.start(now, t)
		avg = 0
	}
	b.avg.Store(avg)
}

// start turns the back-off on for Tuning.Backoff from now.
func (b *backoff) start(now time.Time, t *Tuning) {
	b.until.Store(now.Add(t.Backoff).UnixNano())
	b.starts.Add(1)
}

// on reports whether the back-off is on at now.
func (b *backoff) on(now time.Time) bool {
	u := b.until.Load()
	return u != 0 && now.UnixNano() < u
}

// Group is the policy state shared by the connections of one listener:
// the back-off of its requests (rule 1) and of its first requests
// (rule 4). The zero value is ready.
type Group struct {
	inline, first backoff
}

// Resident reports whether a connection of the group going idle at now
// should wait in the set as a resident and be served on the poller.
func (g *Group) Resident(now time.Time) bool { return !g.inline.on(now) }

// FirstOff reports whether new connections are kept off the poller at
// now: accepted by Go and served on goroutines (rule 4).
func (g *Group) FirstOff(now time.Time) bool {
	return g.first.on(now) || g.inline.on(now)
}

// Started is how many times each back-off has started (tests,
// statistics): inline is rule 1's, first rule 4's.
func (g *Group) Started() (inline, first uint64) {
	return g.inline.starts.Load(), g.first.starts.Load()
}

// serveHere reports whether a ready resident connection is served on the
// poller now, or given a goroutine because of a back-off; fresh tells that
// it has served no request yet.
func (g *Group) serveHere(fresh bool) bool {
	if g.inline.until.Load() == 0 && g.first.until.Load() == 0 {
		return true // never backed off: no clock read
	}
	now := time.Now()
	return !g.inline.on(now) && !(fresh && g.first.on(now))
}
