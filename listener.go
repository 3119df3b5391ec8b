package httpev

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PortListener is one listening socket and its callback, the Go form of
// HTTP::Server::EV::PortListener: Stop and Start pause and resume
// accepting, Addr tells where it listens.
type PortListener struct {
	srv      *Server
	callback func(*CGI)
	opts     ListenOptions
	timeout  time.Duration
	exec     executor
	outCfg   bufferConfig // every request's Buffer settings
	key      string       // the address it was asked for, for the duplicate check
	network  string
	address  string // re-opened on accept failures; "" for a caller's listener
	tls      *tls.Config
	nconns   int          // guarded by srv.mu
	loop     listenerLoop // the listener's side of the poller (evloop_linux.go)

	mu      sync.Mutex
	ln      net.Listener // guarded by mu
	stopped bool         // guarded by mu
	closed  bool         // guarded by mu
	// draining: a graceful shutdown takes the connections already in the
	// kernel's accept queue before the socket closes.
	draining bool // guarded by mu
	// drainBy: the end of the drain window of a graceful shutdown (Unix
	// nanoseconds; 0 before one): idle connections stay open until then
	// for a request already on its way (drain.go).
	drainBy atomic.Int64
	ctx     context.Context // ends when the listener closes or drains: stops waiting for a MaxConns slot
	cancel  context.CancelFunc
	resume  chan struct{} // closed by Start
	done    chan struct{} // accept loop ended
}

// Listen starts serving callback on addr, the original's listen(): addr is
// a port number (int, all interfaces), a "host:port" string (a bare "8080"
// also works; "[::1]:8080" for IPv6), "unix:/path/to.sock" for a Unix
// domain socket, or a net.Listener the caller opened. Every request on it
// runs callback with its CGI object. Listening twice on the same address is
// ErrAlreadyListening unless ListenOptions.ReusePort is set.
func (s *Server) Listen(addr any, callback func(c *CGI), opts ListenOptions) (*PortListener, error) {
	if callback == nil {
		return nil, errors.New("httpev: Listen needs a callback")
	}
	tlsConf, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	l := &PortListener{srv: s, callback: callback, opts: opts, network: "tcp", tls: tlsConf,
		timeout: orDuration(opts.Timeout, defaultTimeout), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(s.ctx)
	l.exec = executor{log: s.log, wg: &s.cbs, sem: s.cbSem}
	if !opts.Threading {
		l.exec.serial = s.loop
	}
	l.outCfg = bufferConfig{threshold: s.opts.FlushThreshold, max: s.opts.MaxBuffered, exec: &l.exec, serial: !opts.Threading}
	switch a := addr.(type) {
	case int:
		l.address = ":" + strconv.Itoa(a)
	case string:
		if _, err := strconv.Atoi(a); err == nil {
			a = ":" + a
		}
		if path, ok := strings.CutPrefix(a, "unix:"); ok {
			l.network, a = "unix", path
		}
		l.address = a
	case net.Listener:
		// An inherited socket (systemd, a pre-forking parent) is served
		// like one Listen opened: on Linux, accepted outside Go's netpoller.
		l.ln = l.loop.wrap(l, a)
		l.key = a.Addr().Network() + "/" + a.Addr().String()
	default:
		return nil, fmt.Errorf("httpev: Listen: unsupported address type %T", addr)
	}
	if l.ln == nil {
		l.key = l.network + "/" + l.address
	}
	s.mu.Lock()
	if s.closed || s.shutting {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	for other := range s.listeners {
		if other.key == l.key && !isPortZero(l.address) && !(opts.ReusePort && other.opts.ReusePort) {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrAlreadyListening, l.key)
		}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	if l.ln == nil {
		ln, err := l.listen(l.address)
		if err != nil {
			s.mu.Lock()
			delete(s.listeners, l)
			s.mu.Unlock()
			return nil, fmt.Errorf("httpev: listen %s: %w", l.address, err)
		}
		l.ln = ln
		if l.network == "tcp" {
			l.key = l.network + "/" + ln.Addr().String()
		}
	}
	if opts.ForkHook != nil {
		opts.ForkHook(l)
	}
	go l.acceptLoop()
	return l, nil
}

// listen opens the socket, with SO_REUSEPORT when asked.
func (l *PortListener) listen(address string) (net.Listener, error) {
	// No TCP keep-alive probes on accepted connections: the timeouts cover
	// them until a request is kept (see keepalive.go).
	lc := net.ListenConfig{KeepAlive: -1}
	if l.opts.ReusePort {
		lc.Control = reusePort
	}
	ln, err := lc.Listen(context.Background(), l.network, address)
	if err != nil {
		return nil, err
	}
	return l.loop.wrap(l, ln), nil
}

// tlsConfig builds the listener's TLS configuration, nil for plain HTTP.
func (o *ListenOptions) tlsConfig() (*tls.Config, error) {
	if o.TLSConfig == nil && o.CertFile == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		conf = o.TLSConfig.Clone()
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("httpev: TLS certificate: %w", err)
		}
		if o.ChainFile != "" {
			chain, err := os.ReadFile(o.ChainFile)
			if err != nil {
				return nil, fmt.Errorf("httpev: TLS chain: %w", err)
			}
			for block, rest := pem.Decode(chain); block != nil; block, rest = pem.Decode(rest) {
				if block.Type == "CERTIFICATE" {
					cert.Certificate = append(cert.Certificate, block.Bytes)
				}
			}
		}
		conf.Certificates = append(conf.Certificates, cert)
	}
	if len(conf.NextProtos) == 0 {
		conf.NextProtos = []string{"http/1.1"}
	}
	return conf, nil
}

// File returns a duplicate of the listening socket, to hand to child
// processes (exec.Cmd.ExtraFiles) which serve it with net.FileListener and
// Server.Listen: Go's form of pre-forking. Unlike net.TCPListener.File,
// its Fd (which exec calls) leaves the socket non-blocking: the parent and
// its children share that mode, and a blocking listening socket would
// stall whichever process accepts next once the queue is empty.
func (l *PortListener) File() (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return listenerFile(l.ln)
}

func isPortZero(address string) bool {
	_, port, err := net.SplitHostPort(address)
	return err == nil && (port == "0" || port == "")
}

// Addr returns the address the listener is bound to.
func (l *PortListener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ln.Addr()
}

// Stop stops accepting connections. Requests in flight finish; the socket
// stays bound, so new clients queue in the kernel's backlog until Start.
func (l *PortListener) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || l.closed {
		return
	}
	l.stopped = true
	l.resume = make(chan struct{})
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(aLongTimeAgo) // wake a blocked Accept
	}
}

// Start resumes accepting after Stop.
func (l *PortListener) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		return
	}
	l.stopped = false
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Time{})
	}
	close(l.resume)
}

// closeSocket closes the socket for good and waits for the accept loop.
func (l *PortListener) closeSocket() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.cancel() // wakes an accept loop waiting for a MaxConns slot
		_ = l.ln.Close()
		if l.stopped {
			l.stopped = false
			close(l.resume)
		}
	}
	l.mu.Unlock()
	<-l.done
	l.srv.mu.Lock()
	delete(l.srv.listeners, l)
	l.srv.mu.Unlock()
}

// Close stops the listener now (SimpleHTTP's SHUTDOWN for one listener):
// its socket and its connections close, requests in flight are cut. The
// address can be listened on again afterwards.
func (l *PortListener) Close() error {
	l.closeSocket()
	<-l.srv.drain(l, true)
	return nil
}

// Shutdown stops the listener gracefully (SHUTDOWN GRACEFUL for one
// listener): the socket closes, idle connections close once
// Options.DrainWindow has passed with no request on them, requests in
// flight finish. It returns when its last connection is gone or ctx ends.
func (l *PortListener) Shutdown(ctx context.Context) error {
	l.openDrainWindow(l.srv.drainWindowEnd(ctx))
	l.drainAccepts()
	l.closeSocket()
	select {
	case <-l.srv.drain(l, false):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// paused blocks while the listener is stopped; it reports false once the
// listener is closed.
func (l *PortListener) paused() bool {
	l.mu.Lock()
	for l.stopped {
		ch := l.resume
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
	}
	closed := l.closed
	l.mu.Unlock()
	return !closed
}

func (l *PortListener) acceptLoop() {
	defer close(l.done)
	var delay time.Duration
	retries := 0
	for {
		if !l.paused() {
			return
		}
		l.mu.Lock()
		ln := l.ln
		l.mu.Unlock()
		if !l.acquireConn() {
			l.mu.Lock()
			drain := l.draining && !l.closed
			l.mu.Unlock()
			if drain {
				l.drainQueue(ln)
			}
			return
		}
		nc, err := ln.Accept()
		if err == nil {
			delay, retries = 0, 0
			// Accept checks the deadline Stop sets only before its system
			// call, so a connection can slip in just after Stop: it waits
			// for Start like the ones in the backlog.
			if !l.paused() {
				_ = nc.Close() // closed meanwhile
				l.releaseConn()
				return
			}
			l.serveConn(nc)
			continue
		}
		l.releaseConn()
		l.mu.Lock()
		closed, stopped, draining := l.closed, l.stopped, l.draining
		l.mu.Unlock()
		switch {
		case draining && !closed:
			l.drainQueue(ln)
			return
		case closed:
			return
		case stopped:
			continue // Stop woke Accept with a deadline
		case isTemporary(err):
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.srv.log.Warn("httpev: accept error; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		if !l.reopen(err, &retries) {
			return
		}
	}
}

// acquireConn takes a connection slot (Options.MaxConns) before accepting,
// so that past the bound clients wait in the backlog. With RejectOverload
// it never waits: serveConn turns away what does not fit. It reports false
// once the listener is closed.
func (l *PortListener) acquireConn() bool {
	sem := l.srv.connSem
	if sem == nil || l.srv.opts.RejectOverload {
		return true
	}
	return sem.Acquire(l.ctx, 1) == nil
}

func (l *PortListener) releaseConn() {
	if l.srv.connSem != nil && !l.srv.opts.RejectOverload {
		l.srv.connSem.Release(1)
	}
}

// serveConn starts the goroutine of an accepted connection.
func (l *PortListener) serveConn(nc net.Conn) {
	if l.srv.connSem != nil && l.srv.opts.RejectOverload && !l.srv.connSem.TryAcquire(1) {
		st := l.srv.stats.stripe()
		st.accepted.Add(1)
		if l.tls != nil {
			st.count(0, dropOverload)
			_ = nc.Close() // no handshake spent on a client we turn away
			return
		}
		st.count(503, dropOverload)
		go rejectOverload(nc, st)
		return
	}
	if l.tls != nil {
		nc = tls.Server(nc, l.tls)
	}
	c := newConn(l.srv, l, nc)
	l.mu.Lock()
	draining := l.draining
	l.mu.Unlock()
	if !l.srv.track(c, draining) {
		_ = nc.Close()
		if l.srv.connSem != nil {
			l.srv.connSem.Release(1)
		}
		return
	}
	if !draining && l.srv.ev.adopt(c) {
		return // the poller serves it once its request arrives
	}
	go c.serve()
}

// drainAccepts makes the accept loop take every connection the kernel has
// already accepted and end: closing the socket would reset them, though
// their requests may be fully sent. They serve what they were sent and close.
func (l *PortListener) drainAccepts() {
	l.mu.Lock()
	d, ok := l.ln.(interface{ SetDeadline(time.Time) error })
	if l.closed || !ok {
		l.mu.Unlock()
		return
	}
	if !l.draining { // a second Shutdown only waits
		l.draining = true
		l.cancel() // wakes an accept loop waiting for a MaxConns slot
		if l.stopped {
			l.stopped = false
			close(l.resume)
		}
		_ = d.SetDeadline(time.Now()) // wakes a blocked Accept
	}
	l.mu.Unlock()
	<-l.done
}

// drainQueue accepts until the queue is empty. It never waits for a
// MaxConns slot (a long response could hold one past the caller's
// deadline): with every slot taken, what is left in the queue is reset.
//
// It also stops after maxQueueDrain, and by the end of the drain window.
// A socket shared with other processes (pre-forked workers, the successor
// of a restart) never empties under load: the clients of the connections
// drained here reconnect into the same queue, so an unbounded drain kept
// accepting (measured: 8 s, until the load ended), the server's kept-alive
// connections waited that long to be told to close, and the connections it
// accepted after the window were closed before their request had arrived
// (54 wrk read errors in 3 restarts with -procs 2). Other processes take
// what is left; a socket of this process alone is empty long before.
func (l *PortListener) drainQueue(ln net.Listener) {
	end := time.Now().Add(maxQueueDrain)
	if by := l.drainBy.Load(); by != 0 && time.Unix(0, by).Before(end) {
		end = time.Unix(0, by)
	}
	for time.Now().Before(end) {
		if sem := l.srv.connSem; sem != nil && !l.srv.opts.RejectOverload && !sem.TryAcquire(1) {
			return
		}
		nc, err := takeQueued(ln)
		if nc == nil {
			l.releaseConn()
			if err != nil && !errors.Is(err, net.ErrClosed) { // closed meanwhile: Close cut the rest
				l.srv.log.Warn("httpev: draining the accept queue", "addr", l.key, "err", err)
			}
			return
		}
		l.serveConn(nc)
	}
}

// takeQueuedByDeadline is takeQueued for a listener that is not a socket:
// a deadline not yet passed lets Accept try the queue once, unless the
// machine is loaded enough for it to pass before Accept runs.
func takeQueuedByDeadline(ln net.Listener) (net.Conn, error) {
	d, ok := ln.(interface{ SetDeadline(time.Time) error })
	if !ok {
		return nil, nil
	}
	_ = d.SetDeadline(time.Now().Add(time.Millisecond))
	nc, err := ln.Accept()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil // the queue is empty
		}
		return nil, err
	}
	return nc, nil
}

// maxQueueDrain bounds drainQueue: an accept takes microseconds, so a
// queue of a few thousand connections is empty well within it.
const maxQueueDrain = 100 * time.Millisecond

// rejectOverload answers a connection past Options.MaxConns with 503.
func rejectOverload(nc net.Conn, st *statStripe) {
	defer nc.Close()
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	n, _ := io.WriteString(nc, overloadResponse)
	st.countOut(int64(n))
}

const overloadResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nContent-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n"

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// reopen replaces a listening socket that failed for good, up to
// Options.MaxRetries times in a row (MAX_RETRIES in SimpleHTTP).
func (l *PortListener) reopen(cause error, retries *int) bool {
	if l.address == "" || *retries >= l.srv.opts.MaxRetries {
		l.srv.log.Error("httpev: listener failed; giving up", "addr", l.key, "err", cause, "retries", *retries)
		return false
	}
	*retries++
	l.srv.log.Warn("httpev: listener failed; re-opening", "addr", l.key, "err", cause, "retry", *retries)
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.ln.Close()
	addr := l.ln.Addr().String()
	ln, err := l.listen(addr)
	if err != nil {
		l.srv.log.Warn("httpev: re-open failed", "addr", addr, "err", err)
		time.Sleep(time.Duration(*retries) * 100 * time.Millisecond)
		return true // the dead socket fails Accept again and counts another retry
	}
	l.ln = ln
	return true
}
