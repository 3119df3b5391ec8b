package httpev

import (
	"sync/atomic"

	"github.com/sourcegraph/conc/panics"
)

// Async is the way for a callback to wait (a database query, a call to
// another service) without holding up the loop goroutine when Threading
// is off. It keeps the request (as Keep does) and runs fn once the
// callback has returned, on the goroutine that serves the connection, which
// has nothing else to do until the response is finished; when fn returns
// the request is finished, as by Close. fn may write, flush, read the
// request and its Context as the callback could; a panic in fn answers 500
// (or cuts a response already begun), as one in the callback does.
//
// It replaces the pattern
//
//	c.Keep()
//	go func() { defer c.Close(); ... }()
//
// with a request that cannot be left open by a forgotten Close or a panic,
// and costs no goroutine start and no stack growth per request: the
// connection's goroutine has already grown its stack (BenchmarkServeWait).
//
// Several calls made by the callback run in order; the request finishes
// when the last returns. Called after the callback returned (from another
// goroutine of a kept request), fn runs on a goroutine of its own and the
// request finishes when it returns. With Threading on, fn runs on the
// callback's goroutine right after it; blocking in the callback itself is
// as good there.
func (q *CGI) Async(fn func()) {
	a := &q.async
	if !q.kept.Load() {
		q.Keep()
	}
	// With the callback's end (CGI.call): each side stores its flag before
	// it loads the other's, so at least one sees both, and fn is taken by
	// the callback's end or runs on its own, never neither.
	a.used.Store(true)
	q.mu.Lock()
	if !a.closed.Load() {
		a.add(fn)
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	go func() {
		q.runAsync([]func(){fn})
		q.Close()
	}()
}

// asyncState is a request's Async functions.
type asyncState struct {
	used   atomic.Bool // Async was called
	closed atomic.Bool // the callback returned: no more fns are taken
	fns    []func()    // guarded by CGI.mu until closed, then by ready
	one    [1]func()   // fns' backing for the usual single call
	// ready: fns wait for the goroutine that runs them (takeAsync), which
	// owns them from its Swap on.
	ready atomic.Bool
}

// endCallback closes Async's registration when the callback returns;
// the functions registered by then wait for takeAsync.
func (q *CGI) endCallback() {
	a := &q.async
	a.closed.Store(true)
	if !a.used.Load() {
		return
	}
	q.mu.Lock()
	n := len(a.fns)
	q.mu.Unlock()
	if n > 0 {
		a.ready.Store(true)
	}
}

// add registers fn to run after the callback; q.mu is held.
func (a *asyncState) add(fn func()) {
	if a.fns == nil {
		a.fns = a.one[:0]
	}
	a.fns = append(a.fns, fn)
}

// takeAsync returns the functions to run after the callback, once.
func (q *CGI) takeAsync() []func() {
	if !q.async.ready.Load() || !q.async.ready.Swap(false) {
		return nil
	}
	return q.async.fns
}

// runAsync runs fns in order; a panic ends the request as a callback's
// does (500, or a cut response) and skips the rest.
func (q *CGI) runAsync(fns []func()) {
	for _, fn := range fns {
		if r := callRecovering(fn); r != nil {
			q.panicAnswer("Async function", r)
			return
		}
	}
}

// callRecovering runs fn (a request callback, an Async function) and
// returns its panic, if any, as conc's panics.Recovered (value and stack).
// A plain deferred recover keeps the no-panic path free of allocations.
func callRecovering(fn func()) (rec *panics.Recovered) {
	defer func() {
		if v := recover(); v != nil {
			r := panics.NewRecovered(1, v)
			rec = &r
		}
	}()
	fn()
	return nil
}

// runAsyncHere runs a request's Async functions on the connection's
// goroutine (Threading off: the pump, woken by the callback's end) and
// sends the rest of the response: output that must go out while they run
// is pumped by a goroutine started on the first flush, as in runHere.
func (c *conn) runAsyncHere(q *CGI, fns []func()) error {
	if c.pumpDone == nil {
		c.initPump()
	}
	q.out.pumpArmed.Store(true)
	q.runAsync(fns)
	if !q.out.pumpArmed.Swap(false) { // a pump started meanwhile
		q.out.finish()
		return <-c.pumpDone
	}
	return c.sendFinished(q)
}
