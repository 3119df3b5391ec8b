package httpev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc"
	"golang.org/x/sync/semaphore"
	"golang.org/x/text/encoding"

	"github.com/httpev/httpev/internal/form"
	"github.com/httpev/httpev/internal/http1"
)

// LOCKING
//
// The package's mutexes, outermost first: a goroutine holding one may take
// only those below it, never one above.
//
//  1. attach locks (Server.attachLock): held by a callback that used
//     CGI.Attach until it returns, so anything a callback does is taken
//     under them.
//  2. Server.mu: the connection and listener sets, shutdown state and
//     each conn's nc while it changes (detach). A conn's idle flag is an
//     atomic that drain reads under it (setIdle says why that suffices).
//     conn.wmu: socket writes of one connection (responses, 100 Continue,
//     GiveUpHandle, answers held for pipelining, which the hold timer's
//     goroutine may write: pipeline.go). The two are never held together.
//  3. Buffer.mu (CGI.out): the output of one request; taken under wmu by
//     send and GiveUpHandle.
//  4. connReader.bgMu: the background read of one connection.
//     connLoop.wmu (Linux): the client watch of one connection in the
//     poller (evloop_linux.go). The two are never held together.
//  5. rawfd.Conn's mutex (internal/rawfd): the raw descriptor; taken under
//     Server.mu (drain closes sockets, a stopping setIdle peeks), wmu (writes),
//     bgMu (deadlines) and connLoop.wmu (registering the watch).
//  6. poller.Poller's mutex (internal/poller): the epoll set; taken under
//     Server.mu (park, drain), under a rawfd.Conn's (its descriptor
//     leaving the set when it goes to Go, or watched) and connLoop.wmu.
//
// Leaves, under which nothing else is taken: PortListener.mu, CGI.mu,
// ctxWaits.mu (CGI.Context), conn.closeMu, MultipartFile.mu, the loop's mutex
// (threading.go). No goroutine is started while any of them is held:
// Buffer.signal, which may start a request's pump goroutine, is called
// unlocked, and the poller starts its runners from its watcher goroutine.
// The atomics (conn.closing, idle, gaveUp, probing, cur; Server.stopping;
// requestContext's ended and used, CGI.hasFiles, which spare ctxWaits.mu and CGI.mu
// on requests that never use them; the poller's counters
// and back-offs) are read without locks; each notes what it publishes.

// Server owns listeners, their connections, the loop goroutine that runs
// Threading-off callbacks, and the temp directory for received files: the
// Go form of an HTTP::Server::EV object. Create it with New.
type Server struct {
	opts        Options
	ctypes      headerCache // shared Content-Type-only headers (CGI.Header)
	log         *slog.Logger
	limits      http1.Limits
	chunkLimits http1.ChunkLimits
	queryDec    form.Decoder
	bodyDec     form.Decoder
	cookieDec   form.Decoder
	fieldDec    form.Decoder
	io          IO

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	loop   *loop
	cbs    conc.WaitGroup             // Threading-on callback goroutines
	ev     eventLoop                  // the poller: connections waiting without a goroutine (evloop_linux.go)
	date   atomic.Pointer[cachedDate] // nil once its second is over (response.go)
	// dateTimer expires date at the next second boundary; set by New,
	// armed only by the goroutine that stored date (refreshDate).
	dateTimer *time.Timer
	bufs      sync.Pool // connection read buffers
	upBufs    uploadPools
	stats     serverStats

	defaultHeaders http.Header
	holdWait       time.Duration       // pipeline.go's holdWait; tests lengthen it
	connSem        *semaphore.Weighted // Options.MaxConns
	cbSem          *semaphore.Weighted // Options.MaxCallbacks

	mu        sync.Mutex                 // see LOCKING above
	listeners map[*PortListener]struct{} // guarded by mu
	conns     map[*conn]struct{}         // guarded by mu
	waiters   []connWaiter               // guarded by mu
	shutting  bool                       // guarded by mu
	closed    bool                       // guarded by mu
	stopping  atomic.Bool                // shutting || closed, for setIdle without mu; stored under mu
	attach    map[*io.Writer]*sync.Mutex // guarded by mu
	onShut    []func()                   // guarded by mu
}

// RegisterOnShutdown registers f to run when Shutdown begins, as in
// net/http: the moment to end long polls and event streams, which would
// otherwise hold a graceful shutdown until its context ends. Each f runs
// in its own goroutine.
func (s *Server) RegisterOnShutdown(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onShut = append(s.onShut, f)
}

// New creates a server. It creates Options.TmpPath (mode 0700) when missing
// and fails if it cannot, or if LegacyCharset names an unknown charset.
func New(opts Options) (*Server, error) {
	o := opts.withDefaults()
	if err := os.MkdirAll(o.TmpPath, 0o700); err != nil {
		return nil, fmt.Errorf("httpev: temp directory %q: %w", o.TmpPath, err)
	}
	if st, err := os.Stat(o.TmpPath); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("httpev: temp directory %q is not a directory", o.TmpPath)
	}
	var legacy encoding.Encoding
	if o.LegacyCharset != "" {
		var err error
		if legacy, err = form.LookupCharset(o.LegacyCharset); err != nil {
			return nil, fmt.Errorf("httpev: LegacyCharset: %w", err)
		}
	}
	s := &Server{
		opts: o,
		log:  o.Logger,
		limits: http1.Limits{
			MaxURL: o.MaxURL, MaxHeaderName: o.MaxHeaderName, MaxHeaderValue: o.MaxHeaderValue,
			MaxHeaders: o.MaxHeaders, MaxHeaderBytes: o.MaxHeaderBytes,
		},
		chunkLimits: http1.ChunkLimits{
			MaxHeaderName: o.MaxHeaderName, MaxHeaderValue: o.MaxHeaderValue,
			MaxTrailers: o.MaxHeaders,
		},
		queryDec:  form.Decoder{Legacy: legacy, MaxFields: o.MaxFormFields, MaxNameLen: o.MaxFieldName, MaxValueLen: maxGetValue},
		bodyDec:   form.Decoder{Legacy: legacy, MaxFields: o.MaxFormFields, MaxNameLen: o.MaxFieldName, MaxValueLen: int(o.MaxFormBody)},
		cookieDec: form.Decoder{Legacy: legacy, MaxFields: o.MaxFormFields, MaxNameLen: o.MaxFieldName, MaxValueLen: o.MaxHeaderValue},
		fieldDec:  form.Decoder{Legacy: legacy, MaxFields: o.MaxFormFields, MaxNameLen: o.MaxFieldName, MaxValueLen: o.MaxFieldValue},
		listeners: map[*PortListener]struct{}{},
		conns:     map[*conn]struct{}{},
		attach:    map[*io.Writer]*sync.Mutex{},
	}
	s.defaultHeaders = o.Headers.Clone()
	s.holdWait = holdWait
	s.dateTimer = time.AfterFunc(time.Hour, func() { s.date.Store(nil) })
	s.dateTimer.Stop()
	if o.MaxConns > 0 {
		s.connSem = semaphore.NewWeighted(int64(o.MaxConns))
	}
	if o.MaxCallbacks > 0 {
		s.cbSem = semaphore.NewWeighted(int64(o.MaxCallbacks))
	}
	if o.Hostname == "" {
		s.opts.Hostname, _ = os.Hostname()
	}
	s.io = o.IO
	if s.io == nil {
		s.io = NewAsyncIO(0)
	}
	s.ev.init(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.loop = newLoop(s.log)
	size := o.ReadBufferSize
	s.bufs.New = func() any { b := make([]byte, size); return &b }
	s.upBufs.init()
	return s, nil
}

// takeReadBuf gives the connection a pooled read buffer.
func (s *Server) takeReadBuf(cr *connReader) {
	cr.bufp = s.bufs.Get().(*[]byte)
	cr.buf = *cr.bufp
}

// returnReadBuf gives it back; a buffer grown for a large head is left to
// the garbage collector.
func (s *Server) returnReadBuf(cr *connReader) {
	if cr.bufp != nil && cap(cr.buf) == cap(*cr.bufp) {
		s.bufs.Put(cr.bufp)
	}
	cr.bufp, cr.buf = nil, nil
}

func (s *Server) logDebug(msg string, args ...any) { s.log.Debug(msg, args...) }

func (s *Server) trustsProxy(a netip.Addr) bool {
	if len(s.opts.TrustedProxies) == 0 {
		return true
	}
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) attachLock(w *io.Writer) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.attach[w]
	if m == nil {
		m = new(sync.Mutex)
		s.attach[w] = m
	}
	return m
}

// track registers a new connection; false once the server is closed. A
// connection accepted while a graceful shutdown drains (its listener's
// accept queue, or one accepted just as Shutdown began) is marked closing:
// it serves the request its client had already sent, then closes, rather
// than being reset with that request unanswered.
func (s *Server) track(c *conn, draining bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if draining || s.shutting {
		c.closing.Store(true)
	}
	s.conns[c] = struct{}{}
	c.l.nconns++
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	c.l.nconns--
	keep := s.waiters[:0]
	for _, w := range s.waiters {
		if (w.l == nil && len(s.conns) == 0) || (w.l != nil && w.l.nconns == 0) {
			close(w.done)
		} else {
			keep = append(keep, w)
		}
	}
	s.waiters = keep
}

// connWaiter waits for the connections of one listener (or all, l nil).
type connWaiter struct {
	l    *PortListener
	done chan struct{}
}

// setIdle marks a connection as waiting for a request (none of it read) or
// busy. Going idle reports false once the connection should close instead.
//
// It takes no lock unless a shutdown has begun: it ran twice per request
// on a keep-alive connection, and the server's mutex, one for every
// connection, was a measurable share of a small request's CPU. The
// ordering that makes it safe is the one a mutex gave: drain stores
// c.closing and then loads c.idle; setIdle stores c.idle and then loads
// c.closing (and stopping, which Shutdown and Close set before drain
// runs). All are sequentially consistent atomics, so at least one side
// sees the other's store: either this call sees the shutdown and decides
// under s.mu as before, or drain sees the connection idle and wakes its
// wait (the read deadline; setIdleDeadline re-arms it if the wait starts
// after that). Both may happen, which the mutex allowed too: drain could
// run between setIdle and the wait.
func (s *Server) setIdle(c *conn, idle bool) bool {
	c.idle.Store(idle)
	if !idle || !s.stopping.Load() && !c.closing.Load() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stop := s.shutting || s.closed || c.closing.Load()
	if stop && !s.closed && c.inDrainWindow() {
		// A graceful shutdown's drain window (drain.go): the client may
		// be sending its next request; wait for it until the window ends.
		stop = false
	}
	if stop && !s.closed && (c.cr.r != c.cr.w || c.hasPending()) {
		// A request had arrived: on a new connection before the shutdown,
		// on a kept-alive one perhaps while its last response was still
		// being finished here. It is served (and answered with
		// Connection: close), as a parked connection's would be.
		stop = false
	}
	return !stop
}

// drain winds down the connections of l (all when l is nil): each closes
// after its current response; idle ones close now, and with hard every one
// closes now and its request is cut. The channel closes when none is left.
func (s *Server) drain(l *PortListener, hard bool) <-chan struct{} {
	s.mu.Lock()
	done := make(chan struct{})
	left := len(s.conns)
	if l != nil {
		left = l.nconns
	}
	if left == 0 {
		close(done)
	} else {
		s.waiters = append(s.waiters, connWaiter{l: l, done: done})
	}
	// Finished below, unlocked (failing a request's output may start its
	// pump goroutine): the connections taken out of the poller, and the
	// requests a hard drain cuts.
	var waiting []*conn
	var cut []*CGI
	for c := range s.conns {
		if l != nil && c.l != l {
			continue
		}
		c.closing.Store(true)
		if s.ev.drain(c) {
			waiting = append(waiting, c)
			continue
		}
		switch {
		case hard:
			_ = c.nc.Close()
			if q := c.cur.Load(); q != nil {
				cut = append(cut, q)
			}
		case c.idle.Load():
			// Ends the blocked read with the drain window (at once when
			// there is none); the connection then sees it is closing.
			_ = c.nc.SetReadDeadline(c.drainDeadline())
		}
	}
	s.mu.Unlock()
	for _, q := range cut {
		q.out.fail(ErrServerClosed)
		q.cancelCtx() // its socket is closed: no watch will see it go
	}
	for _, c := range waiting {
		go c.drained(hard) // closes it, or serves what had arrived
	}
	return done
}

func (s *Server) listenerList() []*PortListener {
	ls := make([]*PortListener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	return ls
}

// Shutdown stops the server gracefully (SimpleHTTP's SHUTDOWN GRACEFUL):
// listeners take the connections already in the kernel's accept queue
// (each serves the request it had sent) and stop accepting, idle
// connections close once Options.DrainWindow has passed with no request on
// them (a request that arrives in it is served), requests in flight finish
// (their responses carry Connection: close). It returns when every
// connection is gone, or with ctx's error when ctx ends first; Close then
// cuts what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	s.stopping.Store(true)
	ls := s.listenerList()
	hooks := s.onShut
	end := s.drainWindowEnd(ctx)
	for _, l := range ls {
		l.openDrainWindow(end)
	}
	s.onShut = nil
	s.mu.Unlock()
	for _, f := range hooks {
		go f()
	}
	if end.IsZero() {
		s.drain(nil, false) // idle connections close, freeing MaxConns slots for the queue
	}
	// With a drain window, connections are marked closing only once the
	// sockets are closed: marked before, they would answer Connection:
	// close while a socket still accepts, and their clients' next
	// connections would wait in its queue and be reset when it closes
	// (with wrk -c50 and SIGTERM, one request lost per connection). After
	// it, those clients are refused at connect, before sending anything.
	for _, l := range ls {
		l.drainAccepts()
		l.closeSocket()
	}
	select {
	case <-s.drain(nil, false):
	case <-ctx.Done():
		return ctx.Err()
	}
	s.ev.stop()
	s.cbs.Wait()
	s.loop.stop(5 * time.Second)
	return nil
}

// Close stops the server now (SimpleHTTP's SHUTDOWN): listeners and every
// connection are closed, requests in flight are cut (their OnError fires),
// kept requests end. With Options.CleanupOnDestroy it also empties TmpPath.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.shutting = true
	s.stopping.Store(true)
	ls := s.listenerList()
	s.mu.Unlock()
	for _, l := range ls {
		l.closeSocket()
	}
	done := s.drain(nil, true)
	s.cancel()
	s.endRequests()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.log.Warn("httpev: connections still closing after 5s")
	}
	s.ev.stop()
	s.cbs.Wait()
	s.loop.stop(5 * time.Second)
	if s.opts.CleanupOnDestroy {
		return s.Cleanup()
	}
	return nil
}

// Cleanup removes every file in TmpPath, the original's cleanup(). Do not
// call it while another process uses the same directory.
func (s *Server) Cleanup() error {
	entries, err := os.ReadDir(s.opts.TmpPath)
	if err != nil {
		return fmt.Errorf("httpev: cleanup: %w", err)
	}
	var first error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.opts.TmpPath, e.Name())); err != nil && first == nil {
			first = fmt.Errorf("httpev: cleanup: %w", err)
		}
	}
	return first
}

// TmpPath returns the directory received files are written to.
func (s *Server) TmpPath() string { return s.opts.TmpPath }
