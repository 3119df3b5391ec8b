package httpev

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpev/httpev/internal/http1"
)

// conn is one client connection. Whichever goroutine serves it (its own,
// or on Linux the poller's runner, evloop_linux.go) reads and parses its
// requests, hands each to its callback, and is the only writer of
// responses, so callbacks never wait on the network. Fields without a
// note belong to that goroutine; ownership passes through the poller's
// mutex when the connection waits there.
type conn struct {
	srv *Server
	l   *PortListener
	nc  net.Conn
	// The connection's addresses, kept apart from nc, which changes when
	// the connection leaves Go's netpoller (internal/rawfd) while a log
	// callback may still read a finished request's environment.
	laddr, raddr net.Addr
	raddrText    atomic.Pointer[string] // raddr as ServeHandler's r.RemoteAddr, made on first use
	cr           connReader
	st           *statStripe // the counters it adds to (stats.go)
	req          http1.Request
	lim          *http1.Limits

	wmu     sync.Mutex  // socket writes: responses and 100 Continue
	hdr     []byte      // guarded by wmu: scratch for response heads; its first held bytes are answers held back (pipeline.go)
	held    int         // guarded by wmu: how many
	werr    error       // guarded by wmu: sticky: a write of held answers failed
	holding atomic.Bool // held > 0, read without wmu
	// holdTimer writes held answers after holdWait; created on the first
	// hold, armed only while answers are held (guarded by wmu).
	holdTimer *time.Timer
	writeBy   time.Duration // guarded by wmu: the write deadline armed last, since clockBase (setWriteDeadline)
	vecArr    [4][]byte     // backing for vec
	vec       net.Buffers
	outBuf    []byte    // output buffer handed from request to request
	sig       outSignal // the Buffer's wake channel and pump start, reused per request
	idleWait  idleWaiter
	loop      connLoop // the connection's side of the poller (evloop_linux.go)
	// chunked reads chunked bodies; made on the first one, since most
	// connections never see one and an idle connection's size counts
	// (bench/run idle: conn in the 1,152-byte size class, not 1,280).
	chunked *http1.ChunkedReader

	closing atomic.Bool // finish the current response, then close (shutdown)
	linger  bool        // the client may still be sending: close gently (lingerClose)
	idle    atomic.Bool // waiting for a request, none begun (Server.setIdle)
	gaveUp  atomic.Bool // the application owns the socket now
	probing atomic.Bool // TCP keep-alive probes turned on (keepalive.go)
	cur     atomic.Pointer[CGI]

	pumpDone chan error // Threading on: the pump sig.startPump started is done

	closeMu       sync.Mutex
	closeHandlers []closeHandler // guarded by closeMu
	closeSeq      int            // guarded by closeMu
	reqCount      int
}

func newConn(srv *Server, l *PortListener, nc net.Conn) *conn {
	c := &conn{srv: srv, l: l, nc: nc, lim: &srv.limits, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}
	c.cr.conn = nc
	c.cr.beforeRead = c.flushHeld
	c.loop.init(c)
	c.st = srv.stats.stripe()
	c.cr.st = c.st
	c.st.accepted.Add(1)
	c.sig.cfg = &l.outCfg
	if l.opts.Threading {
		c.initPump()
	}
	return c
}

// initPump makes startPump, which pumps a response from another goroutine
// while this one runs application code (runHere, runAsyncHere).
func (c *conn) initPump() {
	c.pumpDone = make(chan error, 1)
	c.sig.startPump = func() {
		q := c.cur.Load()
		go func() { c.pumpDone <- c.pump(q) }()
	}
}

// stepOutcome is what one step of a connection (one request) left it as, and
// tells the goroutine that ran the step what to do next.
type stepOutcome int

const (
	// again: the connection may carry another request; step again.
	again stepOutcome = iota
	// parked: the connection waits in the poller, which owns it now: the
	// goroutine must not touch it any more.
	parked
	// handedOver (only on the poller's runner): the connection must wait
	// for its next request on a goroutine of its own, which the caller
	// starts.
	handedOver
	// closed: the connection is done; the caller finishes it (finishConn).
	closed
)

// serve is the connection's own goroutine: it steps until the connection
// parks or is done. The poller's runner steps a connection too
// (pollClient.Serve).
func (c *conn) serve() {
	for {
		switch c.step(false) {
		case again, handedOver: // handedOver: this is the connection's own goroutine already
		case parked:
			return
		case closed:
			c.finishConn()
			return
		}
	}
}

// step waits for the next request and serves it; onRunner tells that it
// runs on the poller's runner, which must never wait for a client.
func (c *conn) step(onRunner bool) stepOutcome {
	// A whole request head already in the read buffer (pipelining) is
	// served without marking the connection idle: setIdle would let it
	// through anyway (a request that arrived is served, answered with
	// Connection: close in a shutdown), and its two turns of the server's
	// mutex were a measurable share of a pipelined request. A drain that
	// starts meanwhile finds the connection busy, lets it finish this
	// request, and the next step's setIdle closes it; Close cuts it as it
	// cuts any request in flight. A partial head takes the usual way, idle
	// while it waits for the rest.
	got, err := c.bufferedHead()
	if !got {
		// A goroutine the poller started with input waiting reads the
		// request even if a shutdown began since the bytes arrived.
		if !c.srv.setIdle(c, true) && !c.loop.inputReady() {
			return closed
		}
		var o stepOutcome
		o, err = c.readHead(onRunner)
		if o != again {
			return o
		}
		c.srv.setIdle(c, false)
	}
	if err != nil {
		c.headError(err)
		return closed
	}
	c.reqCount++
	q := newCGI(c)
	c.cur.Store(q)
	ok := c.serveRequest(q)
	c.countRequest(q) // and reclaims its output buffer
	c.cur.Store(nil)
	if f := c.l.opts.OnResponseLog; f != nil {
		e := q.logEntry()
		c.l.exec.async(func() { f(e) })
	}
	if !ok {
		return closed
	}
	return again
}

func (c *conn) finishConn() {
	c.cr.abortBackgroundRead()
	c.closeMu.Lock()
	handlers := c.closeHandlers
	c.closeHandlers = nil
	c.closeMu.Unlock()
	for _, h := range handlers {
		if h.f != nil {
			c.l.exec.async(h.f)
		}
	}
	c.srv.ev.forget(c) // before the descriptor closes and can be reused
	if !c.gaveUp.Load() {
		_ = c.flushHeld() // answers held back go out before the close
		if c.linger {
			c.lingerClose()
		}
		_ = c.nc.Close()
	}
	c.srv.returnReadBuf(&c.cr)
	c.srv.forget(c)
	if c.srv.connSem != nil {
		c.srv.connSem.Release(1)
	}
}

// lingerClose ends a connection on which the client may still be sending:
// an error answered before the body was read, or a body the callback left
// unread. Closing a socket with unread input makes the kernel send RST,
// which can destroy the answer before the client has read it; so, as
// net/http does, the server half-closes first and waits up to lingerTime
// for the client to close too, discarding up to lingerBytes of what still
// arrives meanwhile. Past that the client is left blocked on a full socket
// buffer, where it reads the answer, until the time is up.
func (c *conn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || c.cr.err != nil && isNetClose(c.cr.err) {
		return
	}
	if cw.CloseWrite() != nil {
		return
	}
	end := time.Now().Add(lingerTime)
	_ = c.nc.SetReadDeadline(end)
	if c.cr.buf == nil {
		c.srv.takeReadBuf(&c.cr)
	}
	for n := 0; n < lingerBytes; {
		m, err := c.nc.Read(c.cr.buf)
		n += m
		if err != nil {
			return // the client closed (the usual end), or the time is up
		}
	}
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.srv.ctx.Done():
	}
}

const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = maxDrain
)

// reclaimLocked takes the finished request's output buffer back for the
// next request (b.mu held). Writes after the finish fail before touching
// it.
func (c *conn) reclaimLocked(b *Buffer) {
	buf := b.data
	if cap(b.sig.spare) > cap(buf) {
		buf = b.sig.spare
	}
	b.data, b.sig.spare = nil, nil
	if cap(buf) <= 8<<10 { // an idle connection should not hold a big response's memory
		c.outBuf = buf[:0]
	}
}

// awaitRequest waits for the first bytes of the next request without
// holding a read buffer when nothing is buffered: an idle keep-alive
// connection then costs its goroutine (or, in the poller, nothing) and a
// few hundred bytes, not another 8 KB. It reports parked or handedOver as
// waitNext does; again when the head can be read, err what the wait found.
func (c *conn) awaitRequest(onRunner bool) (stepOutcome, error) {
	cr := &c.cr
	if cr.r != cr.w || cr.bgHave || !c.canReadIdle() {
		if cr.buf == nil {
			c.srv.takeReadBuf(cr) // TLS and in-memory connections read as usual
		}
		return again, nil
	}
	if err := c.flushHeld(); err != nil { // held answers never wait on the client
		cr.err = err
		return again, err
	}
	c.srv.returnReadBuf(cr)
	cr.r, cr.w = 0, 0
	o, err := c.waitNext(cr.timeout, onRunner) // sets the read deadline
	if o != again {
		return o, nil // parked: the poller owns the connection, touch nothing
	}
	if err != nil && c.closing.Load() && c.hasPending() {
		err = nil // a shutdown woke us, but a request had already arrived
	}
	if err != nil {
		cr.err = err
	}
	return again, err
}

// setIdleDeadline sets the read deadline of an idle wait. Server.drain
// sets an idle connection's deadline to the end of the drain window (a
// time past when there is none) after marking it closing; if that happened
// between the connection's last look at closing and this call, that
// deadline is restored rather than overridden (the connection would
// otherwise sit out its IdleTimeout in a shutdown).
func (c *conn) setIdleDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if c.closing.Load() {
		_ = c.nc.SetReadDeadline(c.drainDeadline())
	}
}

// waitHere waits for the next request on this goroutine with the idle
// timeout; with none (timeout not positive) it clears the deadline, which
// would otherwise be the last read's Timeout and close the connection.
func (c *conn) waitHere(timeout time.Duration) error {
	c.setIdleDeadline(deadlineAfter(time.Now(), timeout))
	_, err := c.readIdle(true, time.Time{})
	return err
}

// deadlineAfter is t+d, or no deadline when d is not positive.
func deadlineAfter(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}

// bufferedHead parses the next request head when the read buffer holds
// it whole, as readHead would, without reading; got is false when it must
// be read (nothing or part of a head buffered, or a shutdown began).
func (c *conn) bufferedHead() (got bool, err error) {
	cr := &c.cr
	if cr.r == cr.w || cr.bgHave || c.closing.Load() {
		return false, nil
	}
	if cr.r > 0 {
		n := copy(cr.buf, cr.buf[cr.r:cr.w])
		cr.r, cr.w = 0, n
	}
	cr.pin = 0
	n, err := c.req.Parse(cr.buf[cr.r:cr.w], c.lim) // Parse resets c.req
	if errors.Is(err, http1.ErrIncomplete) {
		return false, nil
	}
	cr.timeout = c.l.timeout
	cr.headBy = timeZero
	if err == nil {
		cr.r += n
		cr.pin = cr.r
	}
	return true, err
}

// readHead reads and parses the next request head, leaving it pinned at the
// front of the read buffer. Its stepOutcome is awaitRequest's.
func (c *conn) readHead(onRunner bool) (stepOutcome, error) {
	cr := &c.cr
	if cr.r > 0 {
		n := copy(cr.buf, cr.buf[cr.r:cr.w])
		cr.r, cr.w = 0, n
	}
	cr.pin = 0
	cr.timeout = c.l.timeout
	if c.reqCount > 0 {
		cr.timeout = c.srv.opts.IdleTimeout
	}
	cr.headBy = timeZero
	if o, err := c.awaitRequest(onRunner); o != again || err != nil {
		return o, err // headBy still zero; after parked c is not ours to touch
	}
	defer func() { cr.headBy = timeZero }()
	for {
		if cr.w > cr.r || cr.bgHave {
			cr.timeout = c.l.timeout
		}
		if cr.w > cr.r {
			n, err := c.req.Parse(cr.buf[cr.r:cr.w], c.lim) // Parse resets c.req
			if err == nil {
				cr.r += n
				cr.pin = cr.r
				return again, nil
			}
			if !errors.Is(err, http1.ErrIncomplete) {
				return again, err
			}
		}
		if cr.w == len(cr.buf) {
			// A head larger than the read buffer: grow, bounded by the
			// parser, which fails once the head passes MaxHeaderBytes.
			nb := make([]byte, min(2*len(cr.buf), c.lim.MaxHeaderBytes+len(cr.buf)))
			if len(nb) == len(cr.buf) {
				return again, http1.ErrHeaderTooLarge
			}
			copy(nb, cr.buf[:cr.w])
			c.srv.returnReadBuf(cr)
			cr.buf = nb
		}
		if cr.headBy.IsZero() && c.l.timeout > 0 && (cr.w > cr.r || cr.bgHave) {
			// Part of a head is here and the rest must follow within
			// Timeout: an inactivity timeout alone would let a client that
			// trickles a byte at a time hold the connection for days.
			// (A head that arrives whole, the usual case, never gets here.)
			cr.headBy = time.Now().Add(c.l.timeout)
		}
		if err := cr.fill(); err != nil {
			return again, err
		}
	}
}

// headError answers a request whose head could not be read. A connection
// that closed or idled out between requests gets no answer at all.
func (c *conn) headError(err error) {
	if c.cr.w == c.cr.r && !c.cr.bgHave && (isNetClose(err) || errors.Is(err, errTimeout)) {
		return
	}
	status := http1.StatusOf(err)
	switch {
	case errors.Is(err, errTimeout):
		status = 408
	case isNetClose(err):
		c.countHeadError(err, 0)
		return // the client left mid-head; nobody to answer
	}
	c.countHeadError(err, status)
	c.srv.logDebug("httpev: bad request head", "remote", c.raddr.String(), "err", err)
	if f := c.l.opts.OnRequestLog; f != nil {
		ip := addrPort(c.raddr).Addr().String()
		c.l.exec.sync(func() { f(nil, ip) })
	}
	if f := c.l.opts.OnBadRequest; f != nil && status != 408 {
		c.badRequest(f, status, err)
		return
	}
	c.writeError(status)
	if f := c.l.opts.OnResponseLog; f != nil {
		e := LogEntry{RemoteAddr: addrPort(c.raddr).Addr().String(), Time: time.Now(), Status: status, Err: err}
		c.l.exec.async(func() { f(e) })
	}
}

// badRequest lets the application answer a rejected request: the status is
// preset, the connection closes after the response.
func (c *conn) badRequest(f func(*CGI), status int, err error) {
	q := newCGI(c)
	q.dropped.Store(&dropReason{err})
	q.closeConn = true
	c.linger = true
	q.resp.status = int32(status)
	q.resp.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	c.cur.Store(q)
	defer c.cur.Store(nil)
	c.l.exec.async(func() {
		callSafely(c.srv.log, func() { f(q) })
		q.out.mu.Lock()
		if q.out.queued == 0 {
			q.out.data = append(q.out.data, strconv.Itoa(status)+" "+http.StatusText(status)+"\n"...)
			q.out.queued = int64(len(q.out.data))
		}
		q.out.mu.Unlock()
		q.out.finish()
	})
	_ = c.pump(q)
	if lf := c.l.opts.OnResponseLog; lf != nil {
		e := q.logEntry()
		e.CGI, e.Status = nil, status
		c.l.exec.async(func() { lf(e) })
	}
}

func isNetClose(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isConnReset(err)
}

// writeError sends a short plain-text error response; the connection is
// closed by the caller.
func (c *conn) writeError(status int) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.linger = true
	if c.werr != nil {
		return
	}
	c.hdr = appendErrorResponse(c.hdr[:c.held], c.srv, status) // after held answers (pipeline.go)
	c.setWriteDeadline()
	n, _ := c.nc.Write(c.hdr)
	c.st.countOut(int64(n))
	c.released()
}

// setWriteDeadline arms WriteTimeout for the write about to start; callers
// hold wmu. Arming costs a timer update in the runtime, a measurable share
// of a small keep-alive response, so a deadline already armed to fire at
// most 1/64 of the timeout before the wanted time is left as it is: the
// timeout then lies between 63/64 of WriteTimeout and WriteTimeout.
func (c *conn) setWriteDeadline() {
	t := c.srv.opts.WriteTimeout
	if t <= 0 {
		return
	}
	// The monotonic clock alone (time.Since of a time with its reading)
	// costs about half of time.Now, which reads the wall clock too; the
	// deadline made from it keeps the monotonic reading, which Go's
	// deadlines go by.
	want := time.Since(clockBase) + t
	if want-c.writeBy <= t>>6 {
		return
	}
	c.writeBy = want
	_ = c.nc.SetWriteDeadline(clockBase.Add(want))
}

// clockBase anchors the deadlines setWriteDeadline keeps as durations.
var clockBase = time.Now()

// serveRequest runs one request to its end; it reports whether the
// connection may carry another.
func (c *conn) serveRequest(q *CGI) bool {
	defer q.cleanup()
	if status, err := c.checkRequest(); err != nil {
		c.dropRequest(q, status, err)
		return false
	}
	if status, err := c.readBody(q); err != nil {
		c.dropRequest(q, status, err)
		return false
	}
	c.cr.timeout = 0 // fully received (or streamed by the callback)
	if f := c.l.opts.OnRequestLog; f != nil {
		ip := q.remoteAddr().Addr().String()
		c.l.exec.sync(func() { f(q, ip) })
	}
	var err error
	switch {
	case c.l.opts.Threading:
		err = c.runHere(q)
	case c.l.exec.serial.hold():
		err = c.runHeld(q)
	default:
		c.l.exec.async(q.run)
		err = c.pump(q)
	}
	if c.gaveUp.Load() {
		return false
	}
	if err != nil {
		if !errors.Is(err, ErrDropped) && !errors.Is(err, ErrServerClosed) {
			q.clientGone(err)
		}
		return false
	}
	return c.keepAlive(q)
}

// runHere runs a Threading-on callback on the connection goroutine, which
// has nothing else to do meanwhile: a response then costs no goroutine start
// and no hand-off between goroutines. Output still never waits on the
// network inside the callback: the first Flush, FlushWait, threshold
// crossing or failure starts a goroutine that pumps while it goes on.
func (c *conn) runHere(q *CGI) error {
	e := &c.l.exec
	if e.sem != nil {
		_ = e.sem.Acquire(context.Background(), 1)
		defer e.sem.Release(1)
	}
	q.out.pumpArmed.Store(true)
	return c.afterCallHere(q, q.call())
}

// afterCallHere finishes a callback run on the connection goroutine
// (runHere, runHeld), done telling whether its response is complete: the
// request's Async functions run here, then the response is sent, by the
// pump a flush started meanwhile or by this goroutine.
func (c *conn) afterCallHere(q *CGI, done bool) error {
	if !done {
		if q.takeAsync() {
			q.runAsync()
			done = true
		}
	}
	if !q.out.pumpArmed.Swap(false) { // a flush started a pump meanwhile
		if done {
			q.out.finish()
		}
		return <-c.pumpDone
	}
	if !done {
		return c.pump(q) // kept: wait for the output's signals
	}
	return c.sendFinished(q)
}

// runHeld runs a Threading-off callback on the connection goroutine while
// it holds the server's loop (loop.hold), then goes on as runHere: one at
// a time with every other callback, as on the loop goroutine, but without
// handing the request to that goroutine and the response back. Async
// functions run after the loop is released, as they would on this
// goroutine after the loop ran the callback.
func (c *conn) runHeld(q *CGI) error {
	if c.pumpDone == nil {
		c.initPump()
	}
	q.out.pumpArmed.Store(true)
	done := q.call()
	c.l.exec.serial.release()
	return c.afterCallHere(q, done)
}

// sendFinished ends q's response and sends what is left of it, on the
// goroutine that would otherwise be woken to pump it (runHere,
// runAsyncHere): the signal would only wake it through the wake channel.
// Marking the end, taking the output and building the head are one turn
// of the Buffer's mutex (sendRest), recording the write and taking the
// output buffers back another (wroteLast).
func (c *conn) sendFinished(q *CGI) error {
	if q.body != nil && !q.body.done() {
		// The body is settled before the end goes out (sendPiece), but
		// not for a response that failed: the end is taken first.
		data, err := q.out.finishTake()
		if err != nil {
			return err
		}
		_, err = c.sendPiece(q, data, true)
		return err
	}
	q.removeFiles() // before the end goes out (sendPiece)
	data, done, err := c.sendRest(q)
	switch {
	case err != nil:
		return c.sendFailed(q, data, err)
	case !done:
		c.wroteLast(q, data)
	}
	return nil
}

// sendFailed records that sending data, a piece of q's response, failed
// with err (which it returns): the response did not complete.
func (c *conn) sendFailed(q *CGI, data []byte, err error) error {
	q.out.written(data, err)
	q.flags.And(^uint32(flagCompleted))
	return err
}

// dropRequest answers a request that failed before its callback ran and
// fires OnError.
func (c *conn) dropRequest(q *CGI, status int, err error) {
	q.rejected = int32(status)
	q.removeFiles() // before the answer, as for a complete response
	if status > 0 {
		c.writeError(status)
	}
	q.fail(err)
	if f := c.l.opts.OnError; f != nil {
		c.l.exec.sync(func() { f(q) })
	}
}

// keepAlive decides, after a response, whether to read another request.
func (c *conn) keepAlive(q *CGI) bool {
	q.cancelCtx() // the request is over; before the watch stops (startBackgroundRead, pollWatch)
	c.cr.abortBackgroundRead()
	c.unwatchClient()
	// Not c.closing: a shutdown that began after the head went out with
	// keep-alive finds the client perhaps already sending its next
	// request; serve's idle check (setIdle) closes the connection unless
	// that request has arrived, which is then answered with close.
	c.settleBody(q) // done already when pump sent the end of the response
	if q.bodyBroken() {
		c.linger = true // the client may still be sending the rest
		return false
	}
	return !q.closeConn && !c.req.Close && c.cr.err == nil
}

// maxDrain is how much unread body the server discards to keep a
// connection alive; past it closing is cheaper.
const maxDrain = 256 << 10

// pump sends the request's output as the Buffer asks, until the response is
// complete or the connection fails.
func (c *conn) pump(q *CGI) error {
	b := &q.out
	for {
		// Threading off: the callback's Async functions run here once it
		// has returned (its end signals); with Threading on runHere runs
		// them, never a pump. Checked before every wait, since the
		// callback's last flush and its end may share one wake-up.
		if !c.l.opts.Threading {
			if q.takeAsync() {
				return c.runAsyncHere(q)
			}
		}
		if _, open := <-b.sig.wake; !open {
			return nil
		}
		data, fin, ok, err := b.takeIfDue()
		if err != nil {
			return err
		}
		if !ok {
			if q.kept.Load() {
				// Keep's wake-up (pipeline.go): answers held back
				// must not wait for a long poll or a stream.
				if err := c.flushHeld(); err != nil {
					return err
				}
			}
			continue
		}
		if end, err := c.sendPiece(q, data, fin); end || err != nil {
			return err
		}
	}
}

// sendPiece sends one piece of output taken from q's Buffer, the last one
// when fin; end reports that the response is over.
func (c *conn) sendPiece(q *CGI, data []byte, fin bool) (end bool, err error) {
	if fin {
		// The body is settled before the last piece of the response,
		// which may carry its head: that head must say whether the
		// connection stays open (appendHead).
		c.settleBody(q)
		// Temp files go before the response ends, so a client that has
		// the whole answer never sees them on disk.
		q.removeFiles()
		// Set before the write: the client may read the end and close
		// before send returns, and the background read must not take
		// that for a client gone mid-response.
		q.flags.Or(flagCompleted)
	}
	if err = c.send(q, data, fin); err != nil {
		return true, c.sendFailed(q, data, err)
	}
	if fin {
		c.wroteLast(q, data)
		return true, nil
	}
	q.out.written(data, nil)
	return false, nil
}

// wroteLast records that the end of q's response went out and takes its
// output buffers back for the next request (reclaimLocked), in one turn of
// the Buffer's mutex where written and countRequest took two.
func (c *conn) wroteLast(q *CGI, data []byte) {
	b := &q.out
	b.mu.Lock()
	ready, onErr := c.wroteLastLocked(q, data)
	b.mu.Unlock()
	b.fire(ready, onErr, nil)
}

// wroteLastLocked is wroteLast's bookkeeping (the Buffer's mutex held); it
// returns what fire must call, unlocked.
func (c *conn) wroteLastLocked(q *CGI, data []byte) (ready []flushWaiter, onErr []func(error)) {
	ready, onErr = q.out.writtenLocked(data, nil)
	c.reclaimLocked(&q.out)
	q.reclaimed = true
	return ready, onErr
}

// continue100 answers Expect: 100-continue once, just before the body is
// read.
func (c *conn) continue100(q *CGI) error {
	if !c.req.Expect100 || q.continueSent {
		return nil
	}
	q.continueSent = true
	if c.req.Minor == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	out := append(c.hdr[:c.held], "HTTP/1.1 100 Continue\r\n\r\n"...) // after held answers
	c.setWriteDeadline()
	n, err := c.nc.Write(out)
	c.hdr = out[:0]
	c.st.countOut(int64(n))
	c.released()
	if err != nil {
		c.werr = err
	}
	return err
}

func (c *conn) isTLS() bool {
	_, ok := c.nc.(interface{ ConnectionState() tls.ConnectionState })
	return ok
}
