package poller

import (
	"syscall"
)

// The client watch: a connection whose request is being answered off the
// runner (its own goroutine, or an old runner after a handoff) can have
// its descriptor watched in the set for the client leaving, instead of a
// read waiting in Go's netpoller, which would take the socket there (a
// dup, fcntl, getsockname, an epoll_ctl, and the way back) on every such
// request. The registration is one-shot for EPOLLRDHUP (and the errors
// and hang-ups epoll always reports), not EPOLLIN: a pipelined request is
// no news. It stays registered when the request ends, so that the
// connection's next Reside or Park changes it (EPOLL_CTL_MOD) rather than
// adding it again, and stays armed until it reports: a client that stays
// reports nothing, so the next request's watch finds the registration
// armed and costs no system call at all (Entry.armed). Only a report
// (the client left between requests, or sent more and then half-closed)
// disarms it; the next watch then re-arms it with EPOLL_CTL_MOD, and
// since the report is level-triggered, a client already gone is
// reported again at once. On /db (one query per request, connections
// off the runner) that was one epoll_ctl per request (bench/README,
// "Changes for issue 14").

// watchEvents is what a watch registration reports.
const watchEvents = syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// Watch watches e's descriptor fd for the client leaving: gone runs, in a
// goroutine of its own, once the peer has closed or reset the connection
// with nothing left unread. It reports false when the poller cannot (not
// started, stopped, broken, epoll failed): the caller watches another
// way. Call it with the descriptor's lock held (it must not be closed or
// go to Go meanwhile), while no runner serves e. The descriptor may be
// one of Go's netpoller too (epoll lets two sets watch one socket): the
// caller then drops it (Unwatch) before Go may close it.
func (p *Poller) Watch(e *Entry, fd int, gone func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.stopped || p.broken.Load() || fd < 0 || e.listed {
		return false
	}
	if p.registeredLocked(e, fd) {
		if !e.watch || !e.armed {
			p.gen++
			if err := p.ep.modify(fd, watchEvents, p.gen); err != nil {
				p.deregisterLocked(e)
				return false
			}
			e.gen = p.gen
			p.rearms.Add(1)
		}
	} else {
		p.gen++
		if err := p.ep.addEvents(fd, watchEvents, p.gen); err != nil {
			return false
		}
		p.registrations.Add(1)
		p.noteLocked(e, fd)
	}
	e.resident = false
	e.watch, e.armed = true, true
	e.gone.Store(&gone)
	p.watches.Add(1)
	return true
}

// Unwatch stops watching e for the client leaving (its request ended).
// With drop the descriptor leaves the set (one of Go's, which the poller
// must not hold when Go closes it); without, it stays, disarmed, for the
// connection's next wait there, and the poller's mutex is not taken.
func (p *Poller) Unwatch(e *Entry, drop bool) {
	e.gone.Store(nil)
	if !drop {
		return
	}
	p.mu.Lock()
	if e.watch {
		p.deregisterLocked(e)
	}
	p.mu.Unlock()
}

// registeredLocked reports whether fd is in the set for e.
func (p *Poller) registeredLocked(e *Entry, fd int) bool {
	return int(e.fd) == fd && fd < len(p.byFD) && p.byFD[fd] == e
}

// watchEventLocked handles an event of a watch registration; it reports
// false when ev is not one, and returns the gone function to run when
// the client has left. A peer that closed after sending more (a
// pipelined request, then a half-close) has not left: what it sent is
// read with its next request, as a background read would have kept it.
func (p *Poller) watchEventLocked(ev *event) (gone func(), was bool) {
	fd := int(ev.Fd)
	if fd < 0 || fd >= len(p.byFD) {
		return nil, false
	}
	e := p.byFD[fd]
	if e == nil || e.gen != uint32(ev.Pad) || !e.watch {
		return nil, false
	}
	e.armed = false // one-shot: it reported
	if e.gone.Load() == nil {
		return nil, true // the request ended: the next watch or wait re-arms
	}
	var b [1]byte
	n, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		if p.ep.modify(fd, watchEvents, e.gen) == nil {
			e.armed = true
			return nil, true // nothing yet after all: armed again
		}
		return e.takeGone(), true
	case err == nil && n > 0:
		e.gone.Store(nil) // more input: no longer watched, as a background read stops
		return nil, true
	}
	return e.takeGone(), true // end of stream, or an error
}

func (e *Entry) takeGone() func() {
	if g := e.gone.Swap(nil); g != nil {
		return *g
	}
	return nil
}
