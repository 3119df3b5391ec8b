// Package poller is httpev's event loop on Linux: one epoll set per server
// holding the connections that wait for input without a goroutine of
// their own, and the goroutine (the runner) that waits on it.
//
// Two kinds of connection wait in the set:
//
//   - Resident ones (Reside) stay registered level-triggered from request
//     to request, and the runner serves them itself (Client.Serve): one
//     epoll_wait for a batch of requests, one read and one write per
//     request, no goroutine switch. httpev makes a connection resident on
//     a Threading-on TCP listener, from its accept (rawfd.Listener) or its
//     first response.
//   - Parked ones (Park) are registered one-shot after an idle grace; the
//     first readiness takes one out of the set and starts its goroutine
//     again (Client.Resume).
//
// A connection whose request is answered off the runner can also have its
// socket watched in the set for the client leaving (Watch: one-shot
// EPOLLRDHUP, for httpev's request context), rather than by a read
// waiting in Go's netpoller (watch_linux.go).
//
// Idle timeouts: the set keeps its waiting entries on a list in deadline
// order; the runner's epoll_wait ends by the earliest, and the ones due
// are expired (Client.Expire).
//
// A connection served on the runner may block (a slow callback, a client
// that does not read). The handoff keeps that from holding up the others:
// the runner is replaced by a new one and goes on as the connection's own
// goroutine (handoff_linux.go). When and how long requests are served on
// the runner is the policy (policy_linux.go), with every threshold in
// Tuning.
//
// Files: epoll_linux.go holds every epoll system call; poller_linux.go the
// set, the list and the runner's loop; handoff_linux.go the watcher and
// the handoff; watch_linux.go the client watch; policy_linux.go the rules
// and their figures. On other
// systems the package is empty: httpev then waits on goroutines.
//
// # Locking
//
// Poller.mu guards the set, the idle list and every Entry field (but
// gone, a client watch's callback, which Unwatch clears without it); each
// epoll_ctl happens under it, and an entry's descriptor leaves the set
// (Forget, Lost, Drain) before the connection closes it, so an event is
// never applied to a descriptor number that was closed and reused: the
// runner looks the descriptor up and checks the registration's generation
// under the mutex before it acts. The poller calls its clients (Group and
// Fresh excepted, which must not lock) and starts goroutines with no lock
// held; callers may hold their own locks around Park, Drain, Forget and
// Lost (they come before Poller.mu), never around Start or Reside. The counters and the handoff's serving pointer are
// atomics, read without the lock.
package poller
