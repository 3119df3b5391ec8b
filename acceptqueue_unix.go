//go:build unix

package httpev

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// takeQueued accepts one connection the kernel has already queued on ln,
// without waiting: nil when the queue is empty. A socket is asked
// directly, since a deadline cannot say "try once": Go's Accept gives up
// without trying when its deadline has passed by the time it runs, and
// on a loaded machine a deadline a millisecond away had passed (a
// Shutdown then closed the socket on connections whose requests were
// fully sent, and their clients were reset). Listeners that are not
// sockets fall back to the deadline.
//
// Only Go's own socket listeners (and the poller's wrapper of one) are
// asked directly: another net.Listener that has a socket may do work in
// its Accept (a PROXY protocol header, a handshake) that a raw accept
// would skip.
func takeQueued(ln net.Listener) (net.Conn, error) {
	var sc syscall.Conn
	switch s := ln.(type) {
	case *net.TCPListener:
		sc = s
	case *net.UnixListener:
		sc = s
	case interface{ Socket() *net.TCPListener }: // rawfd.Listener
		sc = s.Socket()
	default:
		return takeQueuedByDeadline(ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var aerr error
	err = rc.Control(func(fd uintptr) {
		// Under ForkLock until it is close-on-exec, so that no program
		// started meanwhile inherits it (Go's own Accept does the same
		// where accept4 is missing).
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		for {
			nfd, _, aerr = syscall.Accept(int(fd))
			if aerr != syscall.EINTR && aerr != syscall.ECONNABORTED {
				break
			}
		}
		if aerr == nil {
			syscall.CloseOnExec(nfd)
		}
	})
	switch {
	case err != nil:
		return nil, err
	case aerr == syscall.EAGAIN || aerr == syscall.EWOULDBLOCK:
		return nil, nil
	case aerr != nil:
		return nil, os.NewSyscallError("accept", aerr)
	}
	// FileConn makes the connection Go's own (non-blocking, in the
	// netpoller, TCP_NODELAY as Go's Accept sets) from a duplicate.
	f := os.NewFile(uintptr(nfd), "httpev-queued")
	nc, err := net.FileConn(f)
	err = errors.Join(err, f.Close())
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(false) // as listen's ListenConfig: the timeouts cover it
	}
	if err != nil && nc != nil {
		_ = nc.Close()
		nc = nil
	}
	return nc, err
}
