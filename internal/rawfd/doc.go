// Package rawfd holds TCP sockets outside Go's netpoller: Conn, a
// connection served from its raw non-blocking descriptor that turns into a
// Go connection the moment a read or write would wait, and Listener, which
// accepts such connections with accept4. Only Linux has them; on other
// systems the package is empty and httpev serves every socket through Go.
//
// Why: Go registers every socket in its netpoller edge-triggered for input
// and output, and whenever some goroutine waits there (an accept loop
// always does) an idle thread sleeps in epoll_wait and is woken by every
// packet of every registered socket, even when nobody waits for it. For a
// keep-alive connection served by httpev's own poller (internal/poller),
// which never waits through Go, those wake-ups were the largest cost after
// the kernel's own: measured with a minimal server, registering its sockets
// with Go cut keep-alive req/s by about 30%.
//
// Locking: a Conn's mutex guards its descriptor; the hooks it calls under
// that mutex (Hooks.Leaving) may take the poller's mutex, never the reverse.
package rawfd
