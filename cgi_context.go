package httpev

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// requestContext is CGI.Context: a context of its own, ended by the
// server, rather than context.WithCancel of the server's context. That
// registered every request's context with the server's (under its mutex,
// one lock for the whole server) when it was made and again when it ended;
// a callback that hands c.Context() to a database driver paid both on
// every request. The server ends request contexts itself: the connection
// when the request finishes or its client leaves, Server.Close through
// its connections (endRequests).
//
// Nothing is made until asked for: the Done channel on the first Done,
// and the watch for the client leaving (watchClient) on the first Done,
// Err or AfterFunc, which a callback that only passes the context along
// (Value lookups) never costs. It has no deadline and no values; Err (and
// so context.Cause) is context.Canceled whatever ended it: CGI.Err tells
// why a request was dropped.
type requestContext struct {
	q *CGI
	// ended is set once, by end, before Done's channel closes. used is
	// set by whoever makes the channel or registers a function, after
	// waits is stored and before it looks at ended: each side stores its
	// flag, then loads the other's, so end skips waits for a context
	// nobody waited on, and at least one side sees both (then under
	// waits.mu). end, seeing used, finds waits stored.
	ended    atomic.Bool
	used     atomic.Bool
	watching atomic.Bool // the watch for the client leaving was started (or noted, Keep)
	// waits is what waiting on the context needs, made by the first Done
	// or AfterFunc: most requests never wait on their context, and the
	// request object is the one allocation per request.
	waits atomic.Pointer[ctxWaits]
}

// ctxWaits is the part of a requestContext that someone waits on.
type ctxWaits struct {
	done   atomic.Value // chan struct{}: made under mu, closed by end
	mu     sync.Mutex
	afters []afterCall // guarded by mu: AfterFunc registrations
	seq    uint64      // guarded by mu
}

// waitsMade returns the context's waits, making them on first use.
func (x *requestContext) waitsMade() *ctxWaits {
	if w := x.waits.Load(); w != nil {
		return w
	}
	w := new(ctxWaits)
	if x.waits.CompareAndSwap(nil, w) {
		return w
	}
	return x.waits.Load()
}

// afterCall is one AfterFunc registration.
type afterCall struct {
	id uint64
	f  func()
}

// closedDone is the Done channel of a context that ended before anyone
// asked for it.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

var _ interface {
	context.Context
	AfterFunc(func()) func() bool
} = (*requestContext)(nil)

// Deadline reports none: a request has no deadline of its own.
func (x *requestContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is closed when the request finishes, its client goes away or the
// server closes.
func (x *requestContext) Done() <-chan struct{} {
	if w := x.waits.Load(); w != nil {
		if d, ok := w.done.Load().(chan struct{}); ok {
			if !x.watching.Load() {
				x.watch() // the body was still the callback's at the first call
			}
			return d
		}
	}
	x.watch()
	w := x.waitsMade()
	x.used.Store(true)
	w.mu.Lock()
	d, ok := w.done.Load().(chan struct{})
	if !ok {
		d = closedDone
		if !x.ended.Load() {
			d = make(chan struct{})
		}
		w.done.Store(d)
	}
	w.mu.Unlock()
	return d
}

// Err is context.Canceled once the context has ended.
func (x *requestContext) Err() error {
	if !x.ended.Load() {
		x.watch()
		if !x.ended.Load() {
			return nil
		}
	}
	return context.Canceled
}

// Value reports no values: a request's context carries none.
func (x *requestContext) Value(any) any { return nil }

// AfterFunc runs f in a goroutine of its own once the context ends (at
// once if it has), as context.AfterFunc does, which calls it: a context
// derived from this one (WithCancel, WithTimeout), or a database driver
// watching it per query, then costs a registration here rather than a
// goroutine waiting on Done.
func (x *requestContext) AfterFunc(f func()) (stop func() bool) {
	x.watch()
	w := x.waitsMade()
	x.used.Store(true)
	w.mu.Lock()
	if x.ended.Load() {
		w.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	w.seq++
	id := w.seq
	w.afters = append(w.afters, afterCall{id: id, f: f})
	w.mu.Unlock()
	return func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, a := range w.afters {
			if a.id == id {
				w.afters = append(w.afters[:i], w.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

func (x *requestContext) String() string { return "httpev request context" }

// end ends the context, once; it runs for every request (CGI.cancelCtx).
func (x *requestContext) end() {
	if x.ended.Swap(true) || !x.used.Load() {
		return // ended already, or nobody waits: a later Done sees ended
	}
	w := x.waits.Load()
	w.mu.Lock()
	d, _ := w.done.Load().(chan struct{})
	calls := w.afters
	w.afters = nil
	w.mu.Unlock()
	if d != nil && d != closedDone {
		close(d)
	}
	for _, a := range calls {
		go a.f()
	}
}

// watch starts watching for the client leaving, once, when someone first
// waits on the context; a context asked for after Server.Close ends at
// once (endRequests may have passed the request by).
func (x *requestContext) watch() {
	if x.watching.Load() || x.ended.Load() {
		return // an ended request's connection serves others now
	}
	q := x.q
	if q.cn.srv.ctx.Err() != nil {
		q.cancelCtx()
		return
	}
	q.watchClient()
}

// endRequests ends the context of every request in flight (Server.Close).
// A request whose connection this misses was stored after the server's
// context ended, and its context sees that when first asked (watch).
func (s *Server) endRequests() {
	var qs []*CGI
	s.mu.Lock()
	for c := range s.conns {
		if q := c.cur.Load(); q != nil {
			qs = append(qs, q)
		}
	}
	s.mu.Unlock()
	for _, q := range qs {
		q.cancelCtx()
	}
}
