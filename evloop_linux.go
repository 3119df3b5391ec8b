//go:build linux

package httpev

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/httpev/httpev/internal/poller"
	"github.com/httpev/httpev/internal/rawfd"
)

// The adapter between the server and its poller (internal/poller) on
// Linux, and the Linux idle wait: the one file of the package that drives
// the poller and the raw descriptors (internal/rawfd); stats_linux.go only
// reads the poller's counts.
//
// Threading-on TCP listeners accept outside Go's netpoller
// (rawfd.Listener) and their connections wait for every request in the
// poller, which serves them on its runner goroutine (pollClient.Serve). A
// goroutine per connection costs, for every request, a wake-up through
// Go's netpoller, a read that finds nothing before the goroutine parks
// again, and the scheduler's work between them: about a fifth of the CPU
// of a small keep-alive response. Callbacks may block, and with Threading
// on may count on running concurrently with others: the poller's policy
// (internal/poller/policy_linux.go) hands a connection that blocks to a
// goroutine of its own. Threading-off connections and Unix sockets are
// never resident (a Threading-off callback runs on the server's loop
// goroutine, which the runner would only wait for): they park in the same
// poller after a grace, one-shot. TLS and in-memory connections keep their
// goroutine.

// eventLoop is the Server's side: its poller.
type eventLoop struct {
	p poller.Poller
}

// connLoop is a connection's side.
type connLoop struct {
	entry poller.Entry
	// ready: the goroutine was started by the poller with input waiting
	// (or a request that had arrived before a shutdown): the idle wait
	// reads without waiting, and the shutdown check lets it. Owned by the
	// goroutine serving the connection; passed on through the poller's
	// mutex.
	ready bool
	until time.Time // the idle deadline the poller was given (same owner)
	// watched: a background read watches the socket for the client
	// leaving (Keep, or CGI.Context where the poller cannot: watchClient): its going to Go is that goroutine's
	// wait, not the runner's, and must not hand the runner over. Set by
	// the goroutine serving the connection, read by the one whose read or
	// write takes the socket to Go.
	watched atomic.Bool

	// The client watch in the poller (CGI.Context, see watchClient):
	// owned by wmu, which comes before the descriptor's lock and the
	// poller's.
	wmu   sync.Mutex
	wGone func()       // guarded by wmu: noted while a runner serves the request, registered when it is handed over (Detached)
	wOver *atomic.Bool // guarded by wmu: that request's ended flag
	wOn   bool         // guarded by wmu: the poller watches the descriptor for the request
	wGo   bool         // guarded by wmu: the registration (kept after the request) is of a raw socket's descriptor in Go, which FD closes
	// wSet is set before a watch looks at its request's ended flag, and
	// cleared by unwatchClient under wmu: it lets unwatchClient, which
	// runs after every request, skip wmu when no watch was asked for.
	wSet atomic.Bool
}

// listenerLoop is a listener's side: the poller's policy state for its
// connections.
type listenerLoop struct {
	group poller.Group
}

func (ev *eventLoop) init(s *Server) { ev.p.Init(poller.Tuning{}, s.log) }

func (cl *connLoop) init(c *conn) { cl.entry.Init((*pollClient)(c)) }

// inputReady reports whether the poller started this goroutine with input
// waiting: serve then reads the request even if a shutdown began since.
func (cl *connLoop) inputReady() bool { return cl.ready }

// adopt hands a connection from the raw listener to the poller to wait for
// its first request, with the listener's Timeout. It reports false when
// the caller must start the connection's goroutine: the connection is not
// raw, or the listener's first requests are backed off.
func (ev *eventLoop) adopt(c *conn) bool {
	fc, ok := c.nc.(*rawfd.Conn)
	if !ok {
		return false
	}
	ev.hook(c, fc)
	now := time.Now()
	if c.l.loop.group.FirstOff(now) {
		return false
	}
	c.loop.until = deadlineAfter(now, c.l.timeout)
	return ev.p.Reside(&c.loop.entry, fc.FD(), c.loop.until, c.open)
}

// hook has the poller forget fc's descriptor when it goes to Go (a read or
// write about to wait), which also hands the runner over if it was serving
// c.
func (ev *eventLoop) hook(c *conn, fc *rawfd.Conn) {
	fc.SetHooks(rawfd.Hooks{Leaving: func(fd int) {
		if c.loop.watched.Load() {
			ev.p.Forget(&c.loop.entry) // the background read's wait, not the runner's
			return
		}
		ev.p.Lost(&c.loop.entry, fd)
	}})
}

// keep is Keep's notice: c's request outlives its callback, so a runner
// serving c hands over at once.
func (ev *eventLoop) keep(c *conn) { ev.p.Release(&c.loop.entry) }

// watch tells that a background read is about to watch c's socket for
// the client leaving (the fallback of watchClient). It reports whether a
// runner serves c: the read then
// waits until the runner is handed over (pollClient.Detached), since a
// callback that returns within a tick needs no watch, and the socket's
// going to Go for it costs a dup, two epoll_ctl and a second detach. The
// socket goes to Go for the read on the read's goroutine, which is not the
// runner's wait (hook): where it was taken for one, the runner was handed
// over per request, and a new connection's started the back-off of first
// requests.
func (ev *eventLoop) watch(c *conn) (later bool) {
	c.loop.watched.Store(true)
	return ev.p.Serving(&c.loop.entry)
}

// watchClient watches c's socket for the client leaving while its request
// is answered; gone runs when it has left, unless the request ended first
// (over). Once the poller runs, the socket is watched in its set
// (Poller.Watch, EPOLLRDHUP): a background read would cost a goroutine
// and three deadline changes per request, and on a raw socket
// (internal/rawfd) take it to Go's netpoller and back (a dup, fcntl,
// getsockname, getpeername and two epoll_ctl). While a runner serves the
// request the watch is only noted, and registered if the runner is
// handed over (Detached): a callback that returns within a tick needs
// none. A kept request is watched the same way (Keep turns TCP
// keep-alive probes on first, so a client that vanished without a FIN
// shows as an error). TLS, NoIdlePark (no poller) or a poller that
// cannot are watched by a background read.
func (c *conn) watchClient(gone func(), over *atomic.Bool) {
	if c.gaveUp.Load() {
		return // the application's socket now (GiveUpHandle)
	}
	if c.pollWatch(gone, over) {
		return
	}
	later := c.srv.ev.watch(c)
	c.cr.startBackgroundRead(gone, later, over)
}

// pollWatch is watchClient's poller side; false when the caller must
// watch with a read.
func (c *conn) pollWatch(gone func(), over *atomic.Bool) bool {
	if !c.srv.ev.p.Started() && (!c.canPark() || !c.srv.ev.p.Start()) {
		// Never for NoIdlePark, TLS, in-memory connections. Otherwise the
		// poller starts here if no connection has parked yet (a
		// Threading-off server under steady load never idles).
		return false
	}
	if cr := &c.cr; cr.buffered() > 0 || cr.bgHave || cr.err != nil {
		// A pipelined request is here already (its client's end of stream
		// would be no news), or the socket failed: nothing to watch, as
		// startBackgroundRead decides.
		return true
	}
	lp := &c.loop
	lp.wmu.Lock()
	defer lp.wmu.Unlock()
	lp.wSet.Store(true)
	switch {
	case over.Load():
		// The request ended (unwatchClient may have passed): no watch.
		lp.wSet.Store(lp.wOn || lp.wGone != nil)
		return true
	case lp.wOn || lp.wGone != nil:
		return true // watched already
	case c.srv.ev.p.Serving(&lp.entry):
		lp.wGone, lp.wOver = gone, over
		return true
	}
	if c.registerWatch(gone) {
		return true
	}
	lp.wSet.Store(false)
	return false
}

// registerWatch has the poller watch c's socket; wmu is held. The
// registration stays in the set after the request, disarmed, for the
// connection's next watch or wait there (one epoll_ctl per request, not
// two), and leaves it before the descriptor closes (finishConn) or
// changes: detach closes a Go connection's descriptor, and a raw
// socket that went to Go has a duplicate there, which FD closes
// (dropGoWatch); epoll would keep either registration, the socket
// staying open.
func (c *conn) registerWatch(gone func()) bool {
	lp := &c.loop
	p := &c.srv.ev.p
	ok := false
	switch nc := c.nc.(type) {
	case *rawfd.Conn:
		// A closure that does not escape (IfRaw calls it and keeps
		// nothing): the common case allocates nothing here.
		if nc.IfRaw(func(fd int) { ok = p.Watch(&lp.entry, fd, gone) }) {
			lp.wOn = ok
			return ok
		}
		ok = c.goWatch(nc, gone)
		lp.wGo = lp.wGo || ok
	case *net.TCPConn:
		ok = c.goWatch(nc, gone)
	case *net.UnixConn:
		ok = c.goWatch(nc, gone)
	}
	lp.wOn = ok
	return ok
}

// dropGoWatch takes a client watch's registration of a raw socket's
// descriptor in Go out of the set, before FD closes that descriptor.
func (c *conn) dropGoWatch() {
	lp := &c.loop
	lp.wmu.Lock()
	defer lp.wmu.Unlock()
	if lp.wGo {
		c.srv.ev.p.Forget(&lp.entry)
		lp.wGo = false
	}
}

// goWatch has the poller watch the descriptor of a socket in Go's
// netpoller (held open meanwhile); it reports whether it does.
func (c *conn) goWatch(sc syscall.Conn, gone func()) bool {
	ok := false
	if rc, err := sc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { ok = c.srv.ev.p.Watch(&c.loop.entry, int(fd), gone) })
	}
	return ok
}

// unwatchClient ends the poller's client watch of the request that just
// ended (after its context ended: pollWatch). The descriptor stays in the
// set, disarmed: the connection's next wait there changes it.
func (c *conn) unwatchClient() {
	lp := &c.loop
	if !lp.wSet.Load() {
		return
	}
	lp.wmu.Lock()
	defer lp.wmu.Unlock()
	lp.wGone, lp.wOver = nil, nil
	if lp.wOn {
		c.srv.ev.p.Unwatch(&lp.entry, false)
		lp.wOn = false
	}
	lp.wSet.Store(false)
}

// detachedWatch registers the watch noted while a runner served c, now
// that the runner was handed over; where the poller cannot, a background
// read watches.
func (c *conn) detachedWatch() {
	lp := &c.loop
	lp.wmu.Lock()
	gone, over := lp.wGone, lp.wOver
	lp.wGone, lp.wOver = nil, nil
	read := false
	if gone != nil && !over.Load() {
		read = !c.registerWatch(gone)
	}
	if !lp.wOn {
		lp.wSet.Store(false)
	}
	lp.wmu.Unlock()
	if read {
		lp.watched.Store(true)
		c.cr.startBackgroundRead(gone, false, over)
	}
}

// forget takes c out of the epoll set before its socket closes.
func (ev *eventLoop) forget(c *conn) { ev.p.Forget(&c.loop.entry) }

// drain takes c out of the poller for a shutdown if it waits there: the
// caller then owns it (and starts drained).
func (ev *eventLoop) drain(c *conn) bool { return ev.p.Drain(&c.loop.entry) }

// stop ends the poller, once every waiting connection was drained.
func (ev *eventLoop) stop() { ev.p.Stop() }

// drained finishes a connection a shutdown took out of the poller: hard
// closes it; graceful gives it this goroutine, which serves a request that
// had already arrived or arrives in the drain window (drain.go), and
// closes it otherwise.
func (c *conn) drained(hard bool) {
	if hard {
		c.finishConn()
		return
	}
	c.loop.ready = c.hasPending()
	c.serve()
}

// wrap makes a Threading-on TCP listener accept outside Go's netpoller
// (rawfd.Listener): its connections then wait for their first request in
// the poller. While the listener's first requests are backed off, Go
// accepts, as on other systems. Otherwise, or on any failure, ln stays.
func (ll *listenerLoop) wrap(l *PortListener, ln net.Listener) net.Listener {
	tl, ok := ln.(*net.TCPListener)
	if !ok || l.tls != nil || !l.opts.Threading || l.srv.opts.NoIdlePark {
		return ln
	}
	rl, err := rawfd.Listen(tl, func() bool { return ll.group.FirstOff(time.Now()) })
	if err != nil {
		return ln
	}
	return rl
}

// pollClient is a connection as the poller sees it (poller.Client).
type pollClient conn

// Serve serves the connection on a runner until it waits again or ends:
// a step that would wait on a goroutine (the listener's requests are
// backed off) reports handOff, and the poller starts that goroutine.
func (pc *pollClient) Serve() (handOff bool) {
	c := (*conn)(pc)
	c.loop.ready = true
	for {
		switch c.step(true) {
		case again:
		case parked:
			return false
		case handedOver:
			return true
		case closed:
			c.finishConn()
			return false
		}
	}
}

// Resume starts the connection's goroutine. Its input may be waiting (the
// poller saw it readable, or took it out at a shutdown or failure): the
// goroutine's first idle wait reads without waiting, and goes on waiting
// as usual if nothing was there.
func (pc *pollClient) Resume() {
	c := (*conn)(pc)
	c.loop.ready = true
	go c.serve()
}

// Expire closes a connection whose idle timeout passed, silently, as a
// waiting goroutine's timeout would.
func (pc *pollClient) Expire() { (*conn)(pc).finishConn() }

// Detached: the runner serving the connection was replaced, and its
// callback goes on on the old runner's goroutine: a background read noted
// for later starts now.
func (pc *pollClient) Detached() {
	(*conn)(pc).detachedWatch()
	pc.cr.startLaterRead()
}

func (pc *pollClient) Group() *poller.Group { return &pc.l.loop.group }

func (pc *pollClient) Fresh() bool { return pc.reqCount == 0 }

// The idle wait on Linux: a connection waits for its next request in the
// poller when it can. A resident connection (Threading
// on, TCP) goes back into the set at once, and a runner serves its next
// request; any other plain socket waits Tuning.Grace on its goroutine,
// then parks without one.

// waitNext waits for the first bytes of the next request; timeout is the
// idle timeout. It reports parked when the poller took the connection
// (the caller must not touch it any more) and, on a runner (onRunner),
// handedOver when the wait must happen on a goroutine of the connection's
// own, which the caller starts; again otherwise, with what the read found.
func (c *conn) waitNext(timeout time.Duration, onRunner bool) (stepOutcome, error) {
	lp := &c.loop
	// One clock read per wait, for everything below: the arrival time of
	// what a read finds at once, the residence check, the deadlines (it
	// was two or three; readIdle's at).
	now := time.Now()
	if lp.ready {
		lp.ready = false
		nothing, err := c.readIdle(false, now)
		if !nothing {
			if err == nil && c.l.timeout <= 0 {
				// As below: a partial head must not meet a deadline
				// left over from an earlier wait.
				c.setIdleDeadline(lp.until)
			}
			return again, err
		}
	}
	if c.reqCount > 0 || c.outsideGo() {
		// Resident: after a first request, or from the start for a
		// connection accepted outside Go's netpoller.
		if c.mayReside(now) {
			return c.reside(now, timeout, onRunner)
		}
	}
	if onRunner {
		return handedOver, nil
	}
	if !c.mayPark(timeout) {
		return again, c.waitHere(timeout)
	}
	since := now
	c.setIdleDeadline(since.Add(c.srv.ev.p.Tuning().Grace))
	_, err := c.readIdle(true, since)
	if !errors.Is(err, errTimeout) {
		if err == nil && c.l.timeout <= 0 {
			// No head read will set a deadline of its own: leave the one
			// a wait without parking would have left.
			c.setIdleDeadline(deadlineAfter(since, timeout))
		}
		return again, err
	}
	c.srv.returnReadBuf(&c.cr)
	c.dropScratch()
	if c.park(deadlineAfter(since, timeout)) {
		return parked, nil
	}
	// Could not park: wait out the rest of the idle timeout here, or
	// once a shutdown began the drain window (setIdleDeadline).
	c.setIdleDeadline(deadlineAfter(since, timeout))
	_, err = c.readIdle(true, time.Time{})
	return again, err
}

// mayPark reports whether this idle wait may end in parking: the
// connection has served a request, can park, and the idle timeout is
// longer than the grace.
func (c *conn) mayPark(timeout time.Duration) bool {
	if c.reqCount == 0 || timeout > 0 && timeout <= c.srv.ev.p.Tuning().Grace {
		return false
	}
	return c.canPark()
}

// canPark reports whether the connection can wait in the poller at all: a
// plain socket, parking on, not closing.
func (c *conn) canPark() bool {
	if c.srv.opts.NoIdlePark || c.srv.ev.p.Broken() || c.idleWait.rc == nil {
		return false
	}
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn, *rawfd.Conn:
	default:
		return false
	}
	return !c.closing.Load()
}

// mayReside reports whether this connection, going idle at now, should
// wait for its next request as a resident and be served by a runner.
func (c *conn) mayReside(now time.Time) bool {
	if !c.l.opts.Threading || !c.canPark() || !c.l.loop.group.Resident(now) {
		return false
	}
	switch c.nc.(type) {
	case *net.TCPConn, *rawfd.Conn:
		return true
	}
	return false
}

// outsideGo reports whether c's socket is out of Go's netpoller.
func (c *conn) outsideGo() bool {
	_, ok := c.nc.(*rawfd.Conn)
	return ok
}

// dropScratch lets a parking connection's per-request scratch buffers go:
// they are cheap to make again for a connection idle this long.
func (c *conn) dropScratch() {
	c.outBuf = nil
	c.wmu.Lock() // hdr may hold answers until flushHeld; none are held by now
	c.hdr = nil
	c.wmu.Unlock()
}

// park puts an idle connection into the poller, one-shot. It fails once
// the connection or server is closing (Server.drain has been or is about
// to be through it: both look under Server.mu) or when epoll fails; the
// connection then keeps waiting on its goroutine.
func (c *conn) park(deadline time.Time) bool {
	fd := -1 // before any lock: the descriptor's lock comes first
	_ = c.idleWait.rc.Control(func(f uintptr) { fd = int(f) })
	p := &c.srv.ev.p
	if !p.Start() {
		return false
	}
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting || s.closed || c.closing.Load() {
		return false
	}
	c.loop.until = deadline
	return p.Park(&c.loop.entry, fd, deadline)
}

// reside waits for the next request in the poller as a resident; the read
// buffer goes back to the pool meanwhile.
func (c *conn) reside(since time.Time, timeout time.Duration, onRunner bool) (stepOutcome, error) {
	cr := &c.cr
	c.srv.returnReadBuf(cr)
	if fc := c.detach(); fc != nil {
		c.loop.watched.Store(false) // the request's background read has ended (keepAlive)
		c.dropGoWatch()             // before FD closes Go's descriptor
		fd := fc.FD()
		c.loop.until = deadlineAfter(since, timeout)
		if c.srv.ev.p.Reside(&c.loop.entry, fd, c.loop.until, c.open) {
			return parked, nil
		}
	}
	// Not in the set (a shutdown began, say): wait on a goroutine, until
	// the drain window ends once closing (setIdleDeadline).
	if onRunner {
		return handedOver, nil
	}
	return again, c.waitHere(timeout)
}

// open reports whether the connection is not closing (the poller asks
// under its lock before it takes the connection).
func (c *conn) open() bool { return !c.closing.Load() }

// detach takes c's socket out of Go's netpoller, once; nil when it cannot
// be (not plain TCP).
func (c *conn) detach() *rawfd.Conn {
	if fc, ok := c.nc.(*rawfd.Conn); ok {
		return fc
	}
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	// A client watch's registration of Go's descriptor (registerWatch)
	// leaves the set before Go closes that descriptor: the duplicate keeps
	// the socket open, so epoll would not drop it by itself.
	c.srv.ev.p.Forget(&c.loop.entry)
	fc, err := rawfd.Detach(tc)
	if err != nil {
		c.srv.logDebug("httpev: cannot detach connection", "err", err)
		return nil
	}
	c.srv.ev.hook(c, fc)
	s := c.srv
	s.mu.Lock() // Server.drain reads c.nc under it
	c.nc = fc
	s.mu.Unlock()
	c.cr.conn = fc
	c.idleWait.rc, _ = fc.SyscallConn()
	return fc
}

// startLaterRead starts the background read noted for later
// (startBackgroundRead), if the request it was for has not ended: the
// runner serving it was handed over.
func (cr *connReader) startLaterRead() {
	cr.bgMu.Lock()
	onGone := cr.bgLater
	if onGone == nil || cr.bgRunning {
		cr.bgMu.Unlock()
		return
	}
	cr.startLocked(onGone)
}
