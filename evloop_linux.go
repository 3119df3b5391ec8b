//go:build linux

package httpev

import (
	"net"
	"time"

	"github.com/httpev/httpev/internal/poller"
	"github.com/httpev/httpev/internal/rawfd"
)

// The adapter between the server and its poller (internal/poller) on
// Linux: the only file of the package that calls the poller, apart from
// the idle wait (idlepark_linux.go), which asks it to take a connection.
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
// goroutine of its own. TLS, in-memory and Threading-off connections are
// never resident (a Threading-off callback runs on the server's loop
// goroutine, which the runner would only wait for); their idle keep-alive
// connections park in the same poller after a grace.

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
	fc.SetHooks(rawfd.Hooks{Leaving: func(fd int) { ev.p.Lost(&c.loop.entry, fd) }})
}

// keep is Keep's notice: c's request outlives its callback, so a runner
// serving c hands over at once.
func (ev *eventLoop) keep(c *conn) { ev.p.Release(&c.loop.entry) }

// forget takes c out of the epoll set before its socket closes.
func (ev *eventLoop) forget(c *conn) { ev.p.Forget(&c.loop.entry) }

// drain takes c out of the poller for a shutdown if it waits there: the
// caller then owns it (and starts drained).
func (ev *eventLoop) drain(c *conn) bool { return ev.p.Drain(&c.loop.entry) }

// stop ends the poller, once every waiting connection was drained.
func (ev *eventLoop) stop() { ev.p.Stop() }

// drained finishes a connection a shutdown took out of the poller: hard
// closes it; graceful serves a request that had already arrived.
func (c *conn) drained(hard bool) {
	if !hard && c.hasPending() {
		c.loop.ready = true
		c.serve()
		return
	}
	c.finishConn()
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
// backed off) hands it to a goroutine of its own instead.
func (pc *pollClient) Serve() {
	c := (*conn)(pc)
	c.loop.ready = true
	for {
		switch c.step(true) {
		case again:
		case parked:
			return
		case handedOver:
			go c.serve()
			return
		case closed:
			c.finishConn()
			return
		}
	}
}

// Resume starts the connection's goroutine with input waiting.
func (pc *pollClient) Resume() {
	c := (*conn)(pc)
	c.loop.ready = true
	go c.serve()
}

// Expire closes a connection whose idle timeout passed, silently, as a
// waiting goroutine's timeout would.
func (pc *pollClient) Expire() { (*conn)(pc).finishConn() }

func (pc *pollClient) Group() *poller.Group { return &pc.l.loop.group }

func (pc *pollClient) Fresh() bool { return pc.reqCount == 0 }
