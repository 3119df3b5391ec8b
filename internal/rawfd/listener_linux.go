package rawfd

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Listener accepts the connections of a TCP listener without putting their
// sockets into Go's netpoller: each is a Conn from the start. Per
// connection that saves the netpoller's epoll_ctl at accept and at close.
//
// It waits for connections on a duplicate of the listening descriptor
// opened as an os.File, because a TCPListener's RawConn cannot wait (its
// Read fails with EINVAL); deadlines and Close apply to both descriptors.
type Listener struct {
	*net.TCPListener
	f     *os.File
	rc    syscall.RawConn
	viaGo func() bool
}

// Listen wraps tl; while viaGo reports true, Accept lets Go accept (the
// connection is then a *net.TCPConn, as without the wrapper).
func Listen(tl *net.TCPListener, viaGo func() bool) (*Listener, error) {
	fd, err := DupFromGo(tl)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "httpev-listener")
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetDeadline(time.Time{}) // fails unless f is in the netpoller
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Listener{TCPListener: tl, f: f, rc: rc, viaGo: viaGo}, nil
}

// Accept waits for a connection and returns it as a *Conn, or as Go's
// connection while viaGo says so.
func (rl *Listener) Accept() (net.Conn, error) {
	if rl.viaGo() {
		return rl.TCPListener.Accept()
	}
	fd := -1
	var sa syscall.Sockaddr
	var aerr error
	err := rl.rc.Read(func(lfd uintptr) bool {
		for {
			fd, sa, aerr = syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			switch aerr {
			case syscall.EINTR, syscall.ECONNABORTED:
				continue // as Go's Accept: the next connection, if any
			case syscall.EAGAIN:
				return false // wait in the netpoller
			}
			return true
		}
	})
	if err == nil && aerr != nil {
		err = os.NewSyscallError("accept4", aerr)
	}
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			err = net.ErrClosed
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: rl.Addr(), Err: err}
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) // as Go does
	return New(fd, localTCP(fd, rl.Addr()), sockaddrTCP(sa)), nil
}

// SetDeadline wakes or bounds a waiting Accept.
func (rl *Listener) SetDeadline(t time.Time) error {
	_ = rl.TCPListener.SetDeadline(t)
	return rl.f.SetReadDeadline(t)
}

// Close closes both descriptors: the socket stops listening.
func (rl *Listener) Close() error {
	err := rl.TCPListener.Close()
	_ = rl.f.Close()
	return err
}
