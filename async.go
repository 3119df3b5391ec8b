package httpev

import "github.com/sourcegraph/conc/panics"

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
	// With the callback's end (endCallback): both flags live in one word,
	// so one of the two settings comes first and the later one sees both:
	// fn is taken by the callback's end or runs on its own, never neither.
	q.flags.Or(asyncUsed)
	q.mu.Lock()
	if q.flags.Load()&asyncClosed == 0 {
		a.add(fn)
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	go func() {
		q.runAsyncFn(fn)
		q.Close()
	}()
}

// asyncState is a request's Async functions. It is part of the request
// object, the one allocation per request, so it holds the usual single
// function itself and the rare further ones behind a pointer; its flags
// are in CGI.flags: asyncUsed, asyncClosed, asyncReady. ready: the
// functions wait for the goroutine that runs them (takeAsync), which owns
// them from its clearing of the flag on.
type asyncState struct {
	first func()    // guarded by CGI.mu until closed, then by ready
	rest  *[]func() // the calls after the first, nil for most; guarded as first
}

const (
	asyncUsed   = 1 << iota // Async was called
	asyncClosed             // the callback returned: no more functions are taken
	asyncReady              // functions wait for takeAsync
)

// endCallback closes Async's registration when the callback returns;
// the functions registered by then wait for takeAsync.
func (q *CGI) endCallback() {
	a := &q.async
	if q.flags.Or(asyncClosed)&asyncUsed == 0 {
		return // most requests; an Async from now on runs on its own
	}
	q.mu.Lock()
	have := a.first != nil
	q.mu.Unlock()
	if have {
		q.flags.Or(asyncReady)
	}
}

// add registers fn to run after the callback; q.mu is held.
func (a *asyncState) add(fn func()) {
	switch {
	case a.first == nil:
		a.first = fn
	case a.rest == nil:
		a.rest = &[]func(){fn}
	default:
		*a.rest = append(*a.rest, fn)
	}
}

// asyncWaiting reports whether Async functions wait for takeAsync.
func (q *CGI) asyncWaiting() bool { return q.flags.Load()&asyncReady != 0 }

// takeAsync reports, once, that Async functions wait to run after the
// callback: the caller owns them then, and runs them (runAsync).
func (q *CGI) takeAsync() bool {
	return q.asyncWaiting() && q.flags.And(^uint32(asyncReady))&asyncReady != 0
}

// runAsync runs the functions takeAsync handed over, in order; a panic
// ends the request as a callback's does (500, or a cut response) and
// skips the rest.
func (q *CGI) runAsync() {
	a := &q.async
	if !q.runAsyncFn(a.first) || a.rest == nil {
		return
	}
	for _, fn := range *a.rest {
		if !q.runAsyncFn(fn) {
			return
		}
	}
}

// runAsyncFn runs one Async function; false when it panicked.
func (q *CGI) runAsyncFn(fn func()) bool {
	if r := callRecovering(fn); r != nil {
		q.panicAnswer("Async function", r)
		return false
	}
	return true
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
func (c *conn) runAsyncHere(q *CGI) error {
	if c.pumpDone == nil {
		c.initPump()
	}
	q.out.pumpArmed.Store(true)
	q.runAsync()
	if !q.out.pumpArmed.Swap(false) { // a pump started meanwhile
		q.out.finish()
		return <-c.pumpDone
	}
	return c.sendFinished(q)
}
