//go:build linux

package httpev

import (
	"github.com/httpev/httpev/internal/poller"
)

// Test hooks into the poller (internal/poller): one to tune it, one to
// observe it, so that tests neither overwrite its fields nor read stack
// text.

// tunePoller changes srv's poller tuning; call it before the first
// connection.
func tunePoller(srv *Server, f func(*poller.Tuning)) {
	t := *srv.ev.p.Tuning()
	f(&t)
	srv.ev.p.SetTuning(t)
}

// pollerCounts is the counter hook: what srv's poller has done so far,
// with the back-offs l has started (inline: slow requests; first: first
// requests).
func pollerCounts(srv *Server) poller.Counts { return srv.ev.p.Counts() }

// backoffs is how many times l's back-offs have started.
func backoffs(l *PortListener) (inline, first uint64) { return l.loop.group.Started() }

// onPoller reports whether q's callback runs on the poller's runner.
func onPoller(q *CGI) bool { return q.cn.srv.ev.p.Serving(&q.cn.loop.entry) }

// startPoller starts srv's poller now, as the first parked or resident
// connection would: tests of Threading-off connections use it to have
// their sockets watched in it from the first request.
func startPoller(srv *Server) { srv.ev.p.Start() }
