package poller

import (
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/httpev/httpev/internal/poller."))
}

// fake is a client over one end of a pipe: the test writes to the other
// end to make it ready. It reports each call on a channel.
type fake struct {
	p        *Poller
	e        Entry
	r, w     int
	group    *Group
	fresh    bool
	serve    func(f *fake) // on the runner; default: read and reside again
	served   chan bool     // Serving(e) as seen inside Serve
	resumed  chan struct{}
	expired  chan struct{}
	detached atomic.Int32
}

func newFake(t *testing.T, p *Poller, g *Group) *fake {
	t.Helper()
	var fds [2]int
	require.NoError(t, syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC))
	f := &fake{p: p, r: fds[0], w: fds[1], group: g, served: make(chan bool, 16), resumed: make(chan struct{}, 16), expired: make(chan struct{}, 16)}
	f.e.Init(f)
	t.Cleanup(func() {
		p.Forget(&f.e)
		_ = syscall.Close(fds[0])
		_ = syscall.Close(fds[1])
	})
	return f
}

func (f *fake) send()  { _, _ = syscall.Write(f.w, []byte{1}) }
func (f *fake) drain() { var b [64]byte; _, _ = syscall.Read(f.r, b[:]) }
func (f *fake) reside() bool {
	return f.p.Reside(&f.e, f.r, time.Now().Add(time.Minute), func() bool { return true })
}

func (f *fake) Serve() bool {
	f.served <- f.p.Serving(&f.e)
	f.drain()
	if f.serve != nil {
		f.serve(f)
		return false
	}
	f.reside()
	return false
}
func (f *fake) Resume()       { f.drain(); f.resumed <- struct{}{} }
func (f *fake) Detached()     { f.detached.Add(1) }
func (f *fake) Expire()       { f.expired <- struct{}{} }
func (f *fake) Group() *Group { return f.group }
func (f *fake) Fresh() bool   { return f.fresh }

func newPoller(t *testing.T, tun Tuning) *Poller {
	t.Helper()
	return startPoller(t, tun, nil)
}

// startPoller starts a poller, first applying before (SetTicker).
func startPoller(t *testing.T, tun Tuning, before func(*Poller)) *Poller {
	t.Helper()
	p := &Poller{}
	p.Init(tun, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if before != nil {
		before(p)
	}
	require.True(t, p.Start())
	t.Cleanup(p.Stop)
	return p
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
		panic("unreachable")
	}
}

func TestParkResumeAndExpire(t *testing.T) {
	p := newPoller(t, Tuning{})
	var g Group
	a, b := newFake(t, p, &g), newFake(t, p, &g)
	require.True(t, p.Park(&a.e, a.r, time.Now().Add(time.Minute)))
	require.True(t, p.Park(&b.e, b.r, time.Now().Add(30*time.Millisecond)))
	assert.Equal(t, 2, p.Counts().Listed)
	a.send()
	wait(t, a.resumed, "resume")
	wait(t, b.expired, "expiry")
	assert.Equal(t, 0, p.Counts().Listed)
	assert.EqualValues(t, 2, p.Counts().Registrations)
	assert.False(t, p.Drain(&a.e), "no longer waiting")
}

func TestResideServedOnRunner(t *testing.T) {
	p := newPoller(t, Tuning{Tick: time.Hour})
	var g Group
	f := newFake(t, p, &g)
	require.True(t, f.reside())
	for range 3 {
		f.send()
		assert.True(t, wait(t, f.served, "serve"), "Serving(e) inside Serve")
		// Back in the set (its byte read) before the next one is sent.
		require.Eventually(t, func() bool { return p.Counts().Listed == 1 }, 5*time.Second, time.Millisecond)
	}
	c := p.Counts()
	assert.EqualValues(t, 1, c.Registrations, "registered once, not per request")
	assert.EqualValues(t, 3, c.Inline)
	assert.True(t, p.Drain(&f.e))
}

// TestReleaseHandsOver: a connection whose request is kept on the runner
// hands it over at once; the next ready connection is served by the new
// runner meanwhile, and a fresh one starts the back-off of first requests.
func TestReleaseHandsOver(t *testing.T) {
	p := newPoller(t, Tuning{Tick: time.Hour})
	var g Group
	slow, quick := newFake(t, p, &g), newFake(t, p, &g)
	slow.fresh = true
	hold := make(chan struct{})
	slow.serve = func(f *fake) {
		f.p.Release(&f.e)
		<-hold
	}
	require.True(t, slow.reside())
	require.True(t, quick.reside())
	slow.send()
	wait(t, slow.served, "serve of the slow one")
	quick.send()
	wait(t, quick.served, "serve of the quick one while the slow one is held")
	close(hold)
	assert.EqualValues(t, 1, p.Counts().Handoffs)
	require.Eventually(t, func() bool { return slow.detached.Load() == 1 }, 5*time.Second, time.Millisecond, "told it was left to its goroutine")
	assert.Zero(t, quick.detached.Load())
	_, first := g.Started()
	assert.EqualValues(t, 1, first, "a kept first request starts the back-off of first requests")
	assert.True(t, g.FirstOff(time.Now()))
}

// TestWatcherHandsOver: a runner busy with one connection for a tick is
// replaced by the watcher.
func TestWatcherHandsOver(t *testing.T) {
	p := newPoller(t, Tuning{Tick: 5 * time.Millisecond})
	var g Group
	slow, quick := newFake(t, p, &g), newFake(t, p, &g)
	hold := make(chan struct{})
	slow.serve = func(*fake) { <-hold }
	require.True(t, slow.reside())
	require.True(t, quick.reside())
	slow.send()
	wait(t, slow.served, "serve of the slow one")
	quick.send()
	wait(t, quick.served, "serve of the quick one after the handoff")
	close(hold)
	assert.EqualValues(t, 1, p.Counts().Handoffs)
	require.Eventually(t, func() bool { return slow.detached.Load() == 1 }, 5*time.Second, time.Millisecond, "told it was left to its goroutine")
}

// TestWatcherTwoTicks: tick by tick, the watcher hands over a runner that
// served one connection at one tick and still serves it at the next (rule
// 2), not at the first tick; a serve that ends between two ticks is not
// handed over.
func TestWatcherTwoTicks(t *testing.T) {
	var tk *ManualTicker
	p := startPoller(t, Tuning{}, func(p *Poller) { tk = p.SetTicker() })
	var g Group
	slow, quick := newFake(t, p, &g), newFake(t, p, &g)
	holds := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var serves atomic.Int32
	slow.serve = func(f *fake) { <-holds[serves.Add(1)-1]; f.reside() }
	require.True(t, slow.reside())
	require.True(t, quick.reside())

	// A serve that ends between ticks.
	close(holds[0])
	slow.send()
	wait(t, slow.served, "serve of the slow one")
	tk.Tick()
	require.Eventually(t, func() bool { return p.Counts().Resident == 2 && !p.Serving(&slow.e) }, 5*time.Second, time.Millisecond)
	tk.Tick()
	assert.Zero(t, p.Counts().Handoffs, "a serve that ended between ticks")

	// A serve that spans two ticks.
	slow.send()
	wait(t, slow.served, "second serve of the slow one")
	quick.send()
	tk.Tick()
	assert.Zero(t, p.Counts().Handoffs, "handed over after one tick")
	tk.Tick()
	assert.EqualValues(t, 1, p.Counts().Handoffs, "handed over at the second tick")
	wait(t, quick.served, "serve of the quick one after the second tick")
	assert.EqualValues(t, 1, p.Counts().Handoffs)
	close(holds[1])
	require.Eventually(t, func() bool { return slow.detached.Load() == 1 }, 5*time.Second, time.Millisecond, "told it was left to its goroutine")
}

// TestStaleEvent feeds the runner events that do not belong to the current
// registration: they must not wake anything.
func TestStaleEvent(t *testing.T) {
	p := newPoller(t, Tuning{})
	var g Group
	f := newFake(t, p, &g)
	require.True(t, p.Park(&f.e, f.r, time.Now().Add(time.Minute)))
	release := p.Hold()
	ev := []event{{Fd: f.e.fd, Pad: int32(f.e.gen + 1)}, {Fd: 1 << 20}}
	release()
	p.wake(ev, 0)
	select {
	case <-f.resumed:
		t.Fatal("a stale event resumed the connection")
	case <-time.After(20 * time.Millisecond):
	}
	assert.Equal(t, 1, p.Counts().Listed)
	f.send()
	wait(t, f.resumed, "resume")
}

// TestListOrder checks the deadline order of the idle list with entries
// that are never registered.
func TestListOrder(t *testing.T) {
	p := &Poller{stopped: true}
	base := time.Now()
	es := make([]*Entry, 5)
	for i, off := range []int{3, 1, 4, 2, 5} {
		es[i] = &Entry{fd: int32(i), deadline: base.Add(time.Duration(off) * time.Second)}
		p.insertLocked(es[i])
	}
	order := func() (got []int) {
		for e := p.head; e != nil; e = e.next {
			got = append(got, int(e.deadline.Sub(base)/time.Second))
		}
		return got
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5}, order())
	p.takeLocked(es[0]) // 3, in the middle
	p.takeLocked(es[1]) // 1, the head
	p.takeLocked(es[4]) // 5, the tail
	assert.Equal(t, []int{2, 4}, order())
	assert.Equal(t, es[2], p.tail)
}

// TestBackoff: the share of slow requests passes SlowPercent within a few
// dozen slow requests, and the back-off lasts Backoff; requests under Slow,
// or a few slow ones among quick ones (a busy machine descheduling the
// runner now and then), never back off.
func TestBackoff(t *testing.T) {
	tun := DefaultTuning()
	var b backoff
	now := time.Now()
	n := 0
	for !b.on(now) && n < 1000 {
		b.note(4*tun.Slow, now, &tun)
		n++
	}
	assert.Less(t, n, 64, "backed off after %d slow requests", n)
	assert.True(t, b.on(now.Add(tun.Backoff-time.Millisecond)))
	assert.False(t, b.on(now.Add(tun.Backoff)))
	var quick backoff
	for i := range 100000 {
		took := tun.Slow / 2
		if i%10 == 0 {
			took = 100 * time.Millisecond // one in ten descheduled
		}
		quick.note(took, now, &tun)
	}
	assert.False(t, quick.on(now), "a tenth of slow requests never backs off")
}

// TestBackoffDoubles: a back-off that follows the last one within that
// one's length lasts twice as long, up to MaxBackoff; one that follows
// after a long enough stretch on the poller starts from Backoff again; a
// start while one is on changes nothing.
func TestBackoffDoubles(t *testing.T) {
	tun := DefaultTuning()
	tun.MaxBackoff = 4 * tun.Backoff
	var b backoff
	now := time.Now()
	spans := []time.Duration{}
	for range 5 {
		b.start(now, &tun)
		span := time.Duration(b.until.Load() - now.UnixNano())
		spans = append(spans, span)
		b.start(now.Add(span/2), &tun) // on: no change
		require.Equal(t, now.Add(span).UnixNano(), b.until.Load())
		now = now.Add(span + time.Millisecond) // back on the poller, slow again at once
	}
	B := tun.Backoff
	assert.Equal(t, []time.Duration{B, 2 * B, 4 * B, 4 * B, 4 * B}, spans)
	now = now.Add(tun.MaxBackoff) // a long stretch on the poller
	b.start(now, &tun)
	assert.Equal(t, now.Add(B).UnixNano(), b.until.Load())
	assert.EqualValues(t, 6, b.starts.Load())
}

// TestHandoffAfterResideKeepsRegistration: a runner that put its
// connection back into the set (Reside) but has not returned from Serve
// yet (descheduled on a busy machine) must not have that connection taken
// out of the set by a handoff: it would stay listed as waiting, and its
// next request would be reported to nobody until the idle timeout.
func TestHandoffAfterResideKeepsRegistration(t *testing.T) {
	// Slow: the long serve must not back the listener off (rule 1).
	p := newPoller(t, Tuning{Tick: 2 * time.Millisecond, Slow: time.Hour})
	var g Group
	f := newFake(t, p, &g)
	first := true
	f.serve = func(f *fake) {
		f.reside()
		if first {
			first = false
			time.Sleep(20 * time.Millisecond) // ten ticks between Reside and the return
		}
	}
	require.True(t, f.reside())
	f.send()
	wait(t, f.served, "first serve")
	time.Sleep(40 * time.Millisecond) // the runner is back from Serve
	f.send()
	wait(t, f.served, "serve of the next request")
	c := p.Counts()
	assert.Zero(t, c.Handoffs, "a runner whose connection waits again is not handed over")
	assert.Equal(t, 1, c.Resident)
}
