package httpev

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/panics"
)

// CGI is one received request and its response, the Go form of
// HTTP::Server::EV::CGI: the CGI environment (Env), GET and POST parameters,
// cookies and received files on the input side; a buffered, non-blocking
// writer with Header and cookies on the output side.
//
// The request is finished when its callback returns, unless the callback
// called Keep: then it lives until Close or Drop, and may be answered from
// any goroutine (long poll, streaming). Values returned by its methods are
// copies and stay valid after the request ends, but the request itself
// (Env, Param, Cookie, ...) must be read before it ends: its bytes live in
// the connection's read buffer, which then serves other requests. All
// methods are safe for concurrent use.
type CGI struct {
	cn   *conn     // its server and listener are cn.srv and cn.l
	from time.Time // arrival: the read that brought the head (connReader.readAt)

	// The fields are ordered to pack: the request object is the one
	// allocation per request, and its size sets how often the garbage
	// collector runs under load (640 to 448 bytes took about a fifth off
	// the server's CPU per pipelined request, bench/README; it is 256 now,
	// TestRequestObjectSize). What few requests use lives behind pointers
	// made on first use, what is the connection's is reached through cn.

	mu       sync.Mutex  // lazily parsed input
	in       *cgiInput   // guarded by mu: decoded query, form, cookies, files, pause; nil until there are some
	hasFiles atomic.Bool // set once files has one, after it is appended

	parsedGet    bool // guarded by mu
	parsedCk     bool // guarded by mu
	continueSent bool
	frame        framing       // chosen when the head is sent
	closeConn    bool          // set only by the connection goroutine or before pump
	reclaimed    bool          // the connection goroutine's: wroteLast took the output buffers back
	flags        atomic.Uint32 // flagCompleted, flagPanicked and Async's (async.go): one word packs

	body *bodyReader // request body left on the socket, if any

	out      Buffer
	resp     responseHead // guarded by out.mu
	kept     atomic.Bool
	rejected int32                      // status the server answered a rejected request with
	dropped  atomic.Pointer[dropReason] // why the request was dropped (Err), set once; nil for most

	route *dirRoute // the handler-table row that routed the request, if any

	rc    requestContext // Context (cgi_context.go)
	rare  *rareState     // StartTimer's and Attach's, nil for most requests
	async asyncState
}

// CGI.flags bits besides Async's.
const (
	flagCompleted = 1 << (iota + 8) // the whole response has been written
	flagPanicked                    // the callback panicked (Stats.Dropped.Panic)
)

// rareState is what few requests use, behind one pointer in the request
// object. The callback's goroutine makes it and uses it.
type rareState struct {
	timerAt  time.Duration // StartTimer's time, as an offset from from
	attached []attachment  // Attach's
}

// rareMade returns the request's rareState, making it on first use.
func (q *CGI) rareMade() *rareState {
	if q.rare == nil {
		q.rare = new(rareState)
	}
	return q.rare
}

func newCGI(c *conn) *CGI {
	q := &CGI{cn: c, from: c.cr.readAt}
	q.rc.q = q
	if q.from.IsZero() {
		q.from = time.Now()
	}
	if c.sig.wake == nil {
		c.sig.wake = make(chan struct{}, 1)
	}
	select { // a stale signal from the previous request
	case <-c.sig.wake:
	default:
	}
	q.out.init(&c.sig)
	q.out.data, c.outBuf = c.outBuf, nil
	q.out.discard = string(c.req.Method) == "HEAD"
	q.resp.status = 200
	return q
}

// run is the request callback's frame: panics become a 500 (or a cut
// connection once headers are out) and the server keeps serving.
func (q *CGI) run() {
	if q.call() {
		q.out.finish()
	} else if q.asyncWaiting() {
		q.out.signal() // the connection's goroutine runs them (runAsyncHere)
	}
}

// call runs the callback; it reports whether the response is complete now
// (the callback returned without Keep, or panicked).
func (q *CGI) call() bool {
	r := q.callCallback()
	q.endCallback()
	q.detachAll()
	if r != nil {
		q.panicAnswer("request callback", r)
		return true
	}
	return !q.kept.Load()
}

// panicAnswer ends a request whose application code (what) panicked with
// r: logged with its stack, counted (Stats.Dropped.Panic), answered 500 or
// cut once its head is out.
func (q *CGI) panicAnswer(what string, r *panics.Recovered) {
	q.flags.Or(flagPanicked)
	q.cn.srv.log.Error("httpev: "+what+" panicked", "panic", r.Value,
		"uri", string(q.cn.req.Target), "stack", string(r.Stack))
	q.internalError()
}

// callCallback runs the request callback and returns its panic, if any.
func (q *CGI) callCallback() *panics.Recovered {
	return callRecovering(func() { q.cn.l.callback(q) })
}

// Keep tells the server the request is not finished when the callback
// returns: the application answers it later, from any goroutine, and ends
// it with Close (or Drop). The connection is watched meanwhile, so Context
// is cancelled if the client leaves, and TCP keep-alive probes are turned
// on so that a client that vanished without closing is noticed too.
func (q *CGI) Keep() {
	q.kept.Store(true)
	q.cn.srv.ev.keep(q.cn) // first: what follows may hand the socket to Go
	q.cn.probeKeepAlive()
	q.watchClient()
	if q.cn.holding.Load() {
		q.out.signal() // the pump writes the answers held back (pipeline.go)
	}
}

// Close finishes the response: pending output is sent, and the connection
// is reused or closed. Further writes fail with ErrRequestFinished.
func (q *CGI) Close() error {
	q.out.finish()
	return nil
}

// Drop closes the connection without a response (or cuts a response in
// progress), the original's drop(); OnError fires.
func (q *CGI) Drop() {
	if !q.fail(ErrDropped) {
		return
	}
	q.Start() // a paused upload must wake to see the drop
	q.fireOnError()
}

// fail ends the request with err: output fails and the context ends (both
// idempotent), and the first cause is kept for Err. It reports whether err
// was the first cause.
func (q *CGI) fail(err error) (first bool) {
	first = q.dropped.CompareAndSwap(nil, &dropReason{err})
	q.out.fail(err)
	q.cancelCtx()
	return first
}

// dropReason is why a request was dropped: kept out of the request object,
// which pays every byte on every request, since few requests are dropped.
type dropReason struct{ err error }

// clientGone records that the connection failed under the request.
func (q *CGI) clientGone(err error) {
	if q.flags.Load()&flagCompleted != 0 {
		// The whole response went out; a client closing now (or the
		// background read noticing it) is the normal end, not an error.
		q.cancelCtx()
		return
	}
	if q.fail(err) {
		q.fireOnError()
	}
}

// Err reports why the request was dropped (ErrDropped, ErrTooLarge, a
// timeout, the client going away), or nil. OnError callbacks use it.
func (q *CGI) Err() error {
	if d := q.dropped.Load(); d != nil {
		return d.err
	}
	return nil
}

func (q *CGI) fireOnError() {
	if f := q.cn.l.opts.OnError; f != nil {
		q.cn.l.exec.async(func() { f(q) })
	}
}

// Context returns a context that ends when the client goes away, when the
// request finishes (its response is complete, or it was dropped) or when
// the server closes (Server.Close; a graceful Shutdown lets requests
// finish). Its Err, and context.Cause, is then context.Canceled; Err on
// the CGI tells why a request was dropped. Waiting on it (Done, Err, a
// context derived from it) starts watching the idle socket; passing it
// along costs nothing.
func (q *CGI) Context() context.Context { return &q.rc }

// cancelCtx ends the request's context (idempotent).
func (q *CGI) cancelCtx() { q.rc.end() }

// watchClient starts the watch that notices a vanished client, once the
// body is no longer the callback's to read.
func (q *CGI) watchClient() {
	if q.body != nil && !q.body.done() {
		return
	}
	q.rc.watching.Store(true)
	q.cn.watchClient(func() { q.clientGone(ErrClientGone) }, &q.rc.ended)
}

// cleanup runs when the request is over on every path: temp files of
// unsaved uploads are removed and the context is cancelled.
func (q *CGI) cleanup() {
	q.cancelCtx()
	q.removeFiles()
}

// removeFiles removes the temp files of uploads the application did not
// save; it is safe to call more than once.
func (q *CGI) removeFiles() {
	if !q.hasFiles.Load() {
		return // most requests: no turn of q.mu
	}
	q.mu.Lock()
	files := q.in.fileList()
	q.mu.Unlock()
	for _, f := range files {
		f.discard()
	}
}

// StartTimer restarts the page timer (start_timer in the original).
func (q *CGI) StartTimer() { q.rareMade().timerAt = time.Since(q.from) }

// FlushTimer reports the time since StartTimer, or since the request
// arrived: the page generation time (flush_timer in the original).
func (q *CGI) FlushTimer() time.Duration {
	d := time.Since(q.from)
	if q.rare != nil {
		d -= q.rare.timerAt
	}
	return d
}

// closeHandler is one SETCLOSEHANDLER registration.
type closeHandler struct {
	id int
	f  func()
}

// AddCloseHandler registers f to run (like other callbacks) when this
// request's connection closes, whether the client, a timeout or the server
// closes it: SimpleHTTP's SETCLOSEHANDLER, for bookkeeping of persistent
// connections. The returned function removes the registration.
func (q *CGI) AddCloseHandler(f func()) (remove func()) {
	c := q.cn
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	c.closeSeq++
	id := c.closeSeq
	c.closeHandlers = append(c.closeHandlers, closeHandler{id: id, f: f})
	return func() {
		c.closeMu.Lock()
		defer c.closeMu.Unlock()
		for i, h := range c.closeHandlers {
			if h.id == id {
				c.closeHandlers = slices.Delete(c.closeHandlers, i, i+1)
				return
			}
		}
	}
}
