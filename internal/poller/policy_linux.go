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
//  1. Residence (Tuning.Slow, SlowPercent, AvgWeight, Backoff,
//     MaxBackoff): a Threading-on TCP connection is served on the poller,
//     from request to request, while fewer than SlowPercent of its
//     listener's requests (a moving share, each request weighing
//     1/AvgWeight) take longer than Slow there; past it the listener's
//     ready connections get goroutines for Backoff, or for twice the last
//     back-off when that one ended less than its own length ago, up to
//     MaxBackoff. Serving on the poller saves a netpoller wake-up, a read
//     that finds nothing and a goroutine switch per request, about a fifth
//     of the CPU of a small keep-alive response (keep-alive GET 1.17-1.29x
//     fasthttp with it, bench/README); but the runner serves one
//     connection at a time, so a callback that waits, even briefly,
//     serialises every resident connection behind it.
//
//     Why a share of requests over 20 µs, and not the average time: the
//     earlier rule (back off when the average passed 200 µs, restart from
//     zero) never backed off on /db: a pgx query over a Unix socket takes
//     about 30-40 µs, so 146,519 of about 150k requests in 5 s were
//     served on the runner one query at a time: 28.5k req/s against 50k
//     with NoIdlePark and 56k for fasthttp (bench/run --tfb /db, the
//     same run). A small callback (GET, json) takes 3-8 µs on the runner.
//     Slow was 50 µs first: too close to that query, /db then stayed on
//     the runner in some runs (quiet machine, same run, wrk -c50 4-5 s:
//     /db 51.8k / 38.9k / 38.4k / 29.4k req/s at 50 µs, 48.8k / 50.7k at
//     30 µs, 48.4k / 48.9k at 20 µs, NoIdlePark 52.1k / 52.1k; keep-alive
//     GET 171k / 202k at 50 µs, 191k / 213k at 20 µs; json 190k / 195k
//     and 197k / 194k). 20 µs is a few times a small callback and below a
//     round trip to another process; a callback that computes for longer
//     is better off on a goroutine of its own too, where it runs in
//     parallel with the others.
//     A share rather than an average so that the odd request slowed by a
//     busy machine (the runner's thread descheduled for milliseconds)
//     weighs one request, not its milliseconds. 25% and 1/64 against
//     their neighbours, as counts (5 s of wrk -c50 each, 2026-12-06, both
//     cores loaded by other test runs, so a busy machine; builds made with
//     buildTuning, tuneflag_linux.go; Slow was 50 µs then): back-offs on
//     keep-alive GET / json,
//     and requests served on the runner on /db / /sleep:
//
//       SlowPercent 10:  GET 3, json 3 back-offs; /db 59, /sleep 26
//       SlowPercent 25:  GET 0, json 0;           /db 1,637, /sleep 60
//       SlowPercent 50:  GET 0, json 0;           /db 60,491, /sleep 143
//       AvgWeight 16:    GET 0, json 0;           /sleep 17
//       AvgWeight 256:   GET 0, json 0;           /db 41,474, /sleep 206
//
//     10% backs quick listeners off on a busy machine (each back-off costs
//     them the fifth of their CPU that residence saves); 50% and 1/256
//     leave tens of thousands of queries serialised on the runner. 1/16
//     did as well as 1/64 here; 1/64 is kept as the more tolerant of a
//     burst of descheduled requests.
//
//     Why doubling, and restarting half way rather than from zero: a
//     listener whose requests stay slow used to come back to the poller
//     every Backoff and serve a few dozen requests there before backing
//     off again: on /sleep (a 1 ms callback) 14 per second, each holding
//     the others until the handoff, which made that route's p99 5.6-6.9 ms
//     against 1.7-2.7 ms with NoIdlePark. Doubling makes the returns
//     rare (after 1, 2, 4, ... s, at most one a minute); a listener whose
//     callbacks became quick waits at most that long. Measured, /sleep
//     with both: p99 2.4 ms, 3 back-offs and 58 requests on the runner in
//     5 s (figures in bench/README, "What moved which figure").
//
//  2. Handoff (Tuning.Tick, Tuning.WatchIdleTicks): a watcher hands the
//     poller's other connections to a new runner when one connection has
//     been served for a whole tick, so a blocked callback delays them by at
//     most two ticks, once. The watcher sleeps after WatchIdleTicks ticks
//     with nothing served, so an idle server runs no timer.
//     (TestEvloopHandoff: a blocked callback, another connection served 18
//     requests meanwhile; TestWatcherTwoTicks drives the ticks one by one.)
//     1 ms against its neighbours (same runs as rule 1's counts): at
//     250 µs keep-alive GET was handed over 252 times in 5 s against 65 at
//     1 ms (a runner descheduled for a quarter of a millisecond is common
//     on a busy machine, and each handoff costs a goroutine start), at
//     4 ms 6 times; with rule 1 as it is, callbacks that block stay on the
//     runner only ~60 requests per run (/sleep) whatever the tick, so the
//     tick no longer sets a blocking route's tail. 1 ms bounds the wait
//     of a resident neighbour behind a callback that blocks for the
//     first time at 2 ms.
//     The watcher's sleep: an idle server (one request, then 10 s of
//     nothing) used 0 jiffies of CPU with it and 26 (2.6% of a core) with
//     a watcher that never sleeps (WatchIdleTicks 10^9, same build
//     otherwise). 100 ticks: waking it costs serveHere one channel send
//     after a pause of 100 ms or more, nothing while requests keep coming.
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
//     socket or is kept (rule 3); otherwise first requests back off by
//     rule 1's share and doubling, with their own share, in which a
//     first request the watcher hands over counts as a slow one (a tick
//     is longer than Slow). Decision: a kept first request
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
//     connection 2.7 KB instead of about 8 KB, bench/README). What a park
//     costs, measured with clients that think between requests
//     (bench/cmd/idleconns -every, httpev-serial, server CPU per request
//     over 8 s, two rounds, loaded machine, Grace set with buildTuning):
//
//       every 50 ms, 1,000 conns:  Grace 10 ms 20.2 / 17.4 µs,
//                                  100 ms 13.9 / 10.5 µs, 1 s 11.3 / 12.7 µs
//       every 150 ms, 2,000 conns: Grace 10 ms 16.5 / 28.8 µs,
//                                  100 ms 18.9 / 21.0 µs, 1 s 12.7 / 11.6 µs
//
//     so a park and wake cost about 6-9 µs of CPU, paid by a connection
//     idle longer than Grace, against about 5 KB held by one idle shorter.
//     10 ms would park clients that come back within a page's assets;
//     1 s keeps 5 KB per connection for a second of every pause. 100 ms
//     is between them: a pause of 100 ms costs the park's 6-9 µs, under
//     0.01% of the pause.
//
//  6. Batch (Tuning.Batch): events taken per epoll_wait. What a replaced
//     runner had left of its batch goes to its replacement first: left to
//     level-triggering those events came back behind everything epoll had
//     queued, and with a flood of slow readers a ready connection waited
//     for one handoff per connection ahead of it (TestEvloopHandoffKeepsOrder:
//     without the carry-over 99 of 210 slow readers were served before a
//     request that was ready ahead of them). 128 itself: 16 and 512 gave
//     the same counts as 128 on keep-alive GET, json, /db and /sleep with
//     50 connections (at most 50 events are ever ready), so it only
//     matters with more ready connections than that; 128 is one
//     epoll_wait per 128 ready connections for 1.5 KB of events.

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
	// Slow is how long a request may take on the poller before it counts
	// as slow (rule 1). Default 20 µs.
	Slow time.Duration
	// SlowPercent is the share of slow requests, in percent of the moving
	// average, past which a listener backs off (rule 1). Default 25.
	SlowPercent int
	// Backoff is how long a first back-off lasts (rules 1, 4). Default 1 s.
	Backoff time.Duration
	// MaxBackoff caps a back-off that doubled because the one before it
	// was followed by another too soon (rule 1). Default 1 min.
	MaxBackoff time.Duration
	// WatchIdleTicks is how many empty ticks the watcher waits before it
	// sleeps (rule 2). Default 100.
	WatchIdleTicks int
	// AvgWeight: each request moves the share of slow requests by
	// 1/AvgWeight of the difference (rule 1). Default 64.
	AvgWeight int64
}

// defaultTick is what a watcher's handoff counts as in the share of slow
// first requests (rule 4), whatever tick a test sets: a tick in
// production, so a slow one.
const defaultTick = time.Millisecond

// DefaultTuning returns the defaults documented on Tuning.
func DefaultTuning() Tuning {
	return Tuning{
		Grace:          100 * time.Millisecond,
		Batch:          128,
		Tick:           defaultTick,
		Slow:           20 * time.Microsecond,
		SlowPercent:    25,
		Backoff:        time.Second,
		MaxBackoff:     time.Minute,
		WatchIdleTicks: 100,
		AvgWeight:      64,
	}
}

// withDefaults fills the fields left zero.
func (t Tuning) withDefaults() Tuning {
	d := DefaultTuning()
	overrideTuning(&t)
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
	if t.MaxBackoff <= 0 {
		t.MaxBackoff = d.MaxBackoff
	}
	if t.MaxBackoff < t.Backoff {
		t.MaxBackoff = t.Backoff
	}
	if t.SlowPercent <= 0 || t.SlowPercent > 100 {
		t.SlowPercent = d.SlowPercent
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
	avg    atomic.Int64  // moving share of requests slower than Tuning.Slow, shareScale for all
	until  atomic.Int64  // Unix nanoseconds; 0 before the first back-off
	span   atomic.Int64  // nanoseconds: the length of the last back-off
	starts atomic.Uint64 // back-offs started so far
}

// note counts a request that took took.
func (b *backoff) note(took time.Duration, now time.Time, t *Tuning) {
	var x int64
	if took > t.Slow {
		x = shareScale
	}
	avg := b.avg.Load()
	avg += (x - avg) / t.AvgWeight
	if limit := shareScale * int64(t.SlowPercent) / 100; avg > limit {
		b.start(now, t)
		// Half way, not zero: after the back-off a listener whose
		// requests still block is found out within a few of them (rule 1).
		avg = limit / 2
	}
	b.avg.Store(avg)
}

// shareScale is 100% in backoff.avg's fixed point.
const shareScale = 1 << 20

// start turns the back-off on from now: for Tuning.Backoff, or for twice
// the last one when that ended less than its own length ago (rule 1), up
// to Tuning.MaxBackoff. One that is on already stays as it is: requests
// that were being served when it began still finish on the poller. Two
// concurrent starts may both double; the cap holds.
func (b *backoff) start(now time.Time, t *Tuning) {
	span := int64(t.Backoff)
	last, end := b.span.Load(), b.until.Load()
	if end > now.UnixNano() {
		return
	}
	if end != 0 && now.UnixNano()-end < last {
		span = min(2*last, int64(t.MaxBackoff))
	}
	b.span.Store(span)
	b.until.Store(now.UnixNano() + span)
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
