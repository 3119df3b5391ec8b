//go:build linux

package httpev

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// rawListener accepts connections of a Threading-on TCP listener without
// putting their sockets into Go's netpoller: each is an fdConn from the
// start, and serveConn hands it to the poller, which serves its first
// request like any later one (evloop_linux.go). Per connection that saves
// the netpoller's epoll_ctl at accept and at close, a goroutine start, and
// usually a read that finds nothing before the request arrives.
//
// It waits for connections on a duplicate of the listening descriptor
// opened as an os.File, because a TCPListener's RawConn cannot wait (its
// Read fails with EINVAL); deadlines and Close apply to both descriptors.
type rawListener struct {
	*net.TCPListener
	f  *os.File
	rc syscall.RawConn
	l  *PortListener
}

// wrapRaw makes ln a rawListener when the listener qualifies (plain TCP,
// Threading on, parking on); otherwise, or on any failure, ln stays as it is.
func (l *PortListener) wrapRaw(ln net.Listener) net.Listener {
	tl, ok := ln.(*net.TCPListener)
	if !ok || l.tls != nil || !l.opts.Threading || l.srv.opts.NoIdlePark {
		return ln
	}
	fd, err := dupFromGo(tl)
	if err != nil {
		return ln
	}
	f := os.NewFile(uintptr(fd), "httpev-listener")
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetDeadline(time.Time{}) // fails unless f is in the netpoller
	}
	if err != nil {
		_ = f.Close()
		return ln
	}
	return &rawListener{TCPListener: tl, f: f, rc: rc, l: l}
}

// Accept waits for a connection and returns it as an fdConn; while the
// listener's first requests are backed off (evloop_linux.go), Go accepts
// it, as on other systems.
func (rl *rawListener) Accept() (net.Conn, error) {
	if rl.l.firstBackedOff(time.Now()) {
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
	return &fdConn{fd: fd, raddr: sockaddrTCP(sa), laddr: localTCP(fd, rl.Addr())}, nil
}

// SetDeadline wakes or bounds a waiting Accept (Stop, Shutdown).
func (rl *rawListener) SetDeadline(t time.Time) error {
	_ = rl.TCPListener.SetDeadline(t)
	return rl.f.SetReadDeadline(t)
}

// Close closes both descriptors: the socket stops listening.
func (rl *rawListener) Close() error {
	err := rl.TCPListener.Close()
	_ = rl.f.Close()
	return err
}

// localTCP is an accepted socket's own address: the listener's when that
// names one address, else getsockname's.
func localTCP(fd int, lnAddr net.Addr) net.Addr {
	if a, ok := lnAddr.(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		return a
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return lnAddr
	}
	return sockaddrTCP(sa)
}

func sockaddrTCP(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *syscall.SockaddrInet6:
		ta := &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
		if a.ZoneId != 0 {
			if ifc, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ta.Zone = ifc.Name
			} else {
				ta.Zone = strconv.Itoa(int(a.ZoneId))
			}
		}
		return ta
	}
	return &net.TCPAddr{}
}

// parkNew hands a connection from rawListener.Accept to the poller to wait
// for its first request, with the listener's Timeout; false when it cannot
// or the listener's first requests are backed off (the caller then starts
// the connection's goroutine).
func (c *conn) parkNew() bool {
	fc, ok := c.nc.(*fdConn)
	if !ok {
		return false
	}
	fc.toGo = func(fd int) { c.srv.park.forgetFD(c, fd) }
	now := time.Now()
	if c.l.firstBackedOff(now) {
		return false
	}
	return c.srv.park.parkResident(c, deadlineAfter(now, c.l.timeout))
}

// firstBackedOff reports whether new connections' first requests are kept
// off the poller at now (evloop_linux.go).
func (l *PortListener) firstBackedOff(now time.Time) bool {
	return l.first.on(now) || l.inline.on(now)
}
