//go:build !unix

package httpev

import "net"

// takeQueued accepts one connection already queued on ln, nil when the
// queue is empty. Without a socket call that never waits, it uses a short
// deadline, which can find the queue empty on a machine loaded enough for
// the deadline to pass before Accept runs.
func takeQueued(ln net.Listener) (net.Conn, error) { return takeQueuedByDeadline(ln) }
