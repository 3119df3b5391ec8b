//go:build linux

package httpev

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// fdConn is a TCP connection taken out of Go's netpoller: a resident
// connection (evloop_linux.go) is served from its raw, non-blocking
// descriptor.
//
// Why: Go registers every socket in its netpoller edge-triggered for input
// and output, and whenever some goroutine waits in the netpoller (the
// accept loop always does) an idle thread sleeps in epoll_wait and is woken
// by every packet of every registered socket, even when nobody waits for
// that socket. For a keep-alive connection served by the poller, which
// never waits through Go, those wake-ups were the largest cost after the
// kernel's own: measured with a minimal server, registering its sockets
// with Go cut keep-alive req/s by about 30%.
//
// Reads and writes that would block hand the connection back to Go: the
// descriptor is duplicated into a net.Conn from net.FileConn (registered in
// the netpoller, with the deadlines set so far), and from then on every
// call goes to it, until the connection is resident again (detach). A
// resident connection thus blocks only through Go, and code written for
// net.Conn (the request path, GiveUpHandle) works unchanged.
//
// Deadlines bound waiting, which only the Go connection does: a raw read
// or write that can be done at once is done whatever the deadline (a past
// deadline, which drain sets to wake a waiting read, still ends the wait
// at once).
//
// The raw descriptor is only used under mu, and its system calls never
// block, so Close from another goroutine (a server shutting down) waits
// for at most one of them and the descriptor number is never used after
// it was closed and perhaps reused.
type fdConn struct {
	mu           sync.Mutex
	fd           int      // the raw descriptor; -1 while gc serves or once closed
	gc           net.Conn // the Go connection while one is needed
	closed       bool
	rdl, wdl     time.Time // deadlines, applied to gc when it is made
	laddr, raddr net.Addr
	toGo         func(fd int) // called (under mu) before fd leaves: the parker forgets it
}

var errFdConnClosed = net.ErrClosed

// detachTCP takes tc's socket out of Go's netpoller: it duplicates the
// descriptor and closes tc (which unregisters it).
func detachTCP(tc *net.TCPConn, toGo func(int)) (*fdConn, error) {
	fd, err := dupFromGo(tc)
	if err != nil {
		return nil, err
	}
	fc := &fdConn{fd: fd, laddr: tc.LocalAddr(), raddr: tc.RemoteAddr(), toGo: toGo}
	_ = tc.Close()
	return fc, nil
}

// dupFromGo duplicates the descriptor of a Go connection or listener
// (close-on-exec, non-blocking, as the original).
func dupFromGo(c any) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("httpev: connection has no descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = os.NewSyscallError("fcntl", e)
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, err
	}
	return fd, derr
}

// rawFD returns the raw descriptor, detaching the Go connection again if
// one was needed since; -1 once closed.
func (fc *fdConn) rawFD() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return -1
	}
	if fc.gc != nil {
		fd, err := dupFromGo(fc.gc)
		if err != nil {
			return -1
		}
		_ = fc.gc.Close()
		fc.gc, fc.fd = nil, fd
	}
	return fc.fd
}

// goConnLocked hands the connection to Go (see fdConn).
func (fc *fdConn) goConnLocked() (net.Conn, error) {
	if fc.gc != nil {
		return fc.gc, nil
	}
	if fc.closed {
		return nil, errFdConnClosed
	}
	if fc.toGo != nil {
		fc.toGo(fc.fd)
	}
	probes, _ := syscall.GetsockoptInt(fc.fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	f := os.NewFile(uintptr(fc.fd), "httpev-conn")
	gc, err := net.FileConn(f) // duplicates the descriptor
	_ = f.Close()
	fc.fd = -1
	if err != nil {
		fc.closed = true
		return nil, err
	}
	if tc, ok := gc.(*net.TCPConn); ok && probes == 0 {
		// FileConn turns TCP keep-alive probes on; they stay as they
		// were (keepalive.go turns them on when a request is kept).
		_ = tc.SetKeepAlive(false)
	}
	_ = gc.SetReadDeadline(fc.rdl)
	_ = gc.SetWriteDeadline(fc.wdl)
	fc.gc = gc
	return gc, nil
}

// goConn is goConnLocked for callers that need a net.Conn of Go's
// (GiveUpHandle, TCP keep-alive settings).
func (fc *fdConn) goConn() (net.Conn, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.goConnLocked()
}

func (fc *fdConn) Read(p []byte) (int, error) {
	fc.mu.Lock()
	if fc.gc == nil && !fc.closed {
		n, err := ignoringEINTR(func() (int, error) { return syscall.Read(fc.fd, p) })
		if err != syscall.EAGAIN {
			fc.mu.Unlock()
			switch {
			case err != nil:
				return 0, &net.OpError{Op: "read", Net: "tcp", Source: fc.laddr, Addr: fc.raddr, Err: os.NewSyscallError("read", err)}
			case n == 0 && len(p) > 0:
				return 0, io.EOF
			}
			return n, nil
		}
	}
	gc, err := fc.goConnLocked()
	fc.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return gc.Read(p)
}

func (fc *fdConn) Write(p []byte) (int, error) {
	fc.mu.Lock()
	done := 0
	if fc.gc == nil && !fc.closed {
		for done < len(p) {
			n, err := ignoringEINTR(func() (int, error) { return syscall.Write(fc.fd, p[done:]) })
			if n > 0 {
				done += n
				continue
			}
			if err == syscall.EAGAIN {
				break
			}
			fc.mu.Unlock()
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return done, &net.OpError{Op: "write", Net: "tcp", Source: fc.laddr, Addr: fc.raddr, Err: os.NewSyscallError("write", err)}
		}
		if done == len(p) {
			fc.mu.Unlock()
			return done, nil
		}
	}
	gc, err := fc.goConnLocked()
	fc.mu.Unlock()
	if err != nil {
		return done, err
	}
	n, err := gc.Write(p[done:])
	return done + n, err
}

func (fc *fdConn) Close() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return errFdConnClosed
	}
	fc.closed = true
	if fc.gc != nil {
		return fc.gc.Close()
	}
	err := syscall.Close(fc.fd)
	fc.fd = -1
	return err
}

// CloseWrite shuts down the sending side (lingerClose).
func (fc *fdConn) CloseWrite() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch {
	case fc.gc != nil:
		if cw, ok := fc.gc.(interface{ CloseWrite() error }); ok {
			return cw.CloseWrite()
		}
		return nil
	case fc.closed:
		return errFdConnClosed
	}
	return syscall.Shutdown(fc.fd, syscall.SHUT_WR)
}

func (fc *fdConn) LocalAddr() net.Addr  { return fc.laddr }
func (fc *fdConn) RemoteAddr() net.Addr { return fc.raddr }

func (fc *fdConn) SetDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.rdl, fc.wdl = t, t
	if fc.gc != nil {
		return fc.gc.SetDeadline(t)
	}
	return nil
}

func (fc *fdConn) SetReadDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.rdl = t
	if fc.gc != nil {
		return fc.gc.SetReadDeadline(t)
	}
	return nil
}

func (fc *fdConn) SetWriteDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.wdl = t
	if fc.gc != nil {
		return fc.gc.SetWriteDeadline(t)
	}
	return nil
}

// SyscallConn gives the idle wait (idlewait_unix.go) the raw descriptor.
func (fc *fdConn) SyscallConn() (syscall.RawConn, error) { return fdRawConn{fc}, nil }

// fdRawConn is fdConn's syscall.RawConn. Its Read and Write wait through
// Go, as Read and Write do.
type fdRawConn struct{ fc *fdConn }

func (r fdRawConn) Control(f func(fd uintptr)) error {
	fc := r.fc
	fc.mu.Lock()
	if fc.gc == nil {
		defer fc.mu.Unlock()
		if fc.closed {
			return errFdConnClosed
		}
		f(uintptr(fc.fd))
		return nil
	}
	gc := fc.gc
	fc.mu.Unlock()
	return rawOf(gc, func(rc syscall.RawConn) error { return rc.Control(f) })
}

func (r fdRawConn) Read(f func(fd uintptr) bool) error {
	return r.wait(f, syscall.RawConn.Read)
}

func (r fdRawConn) Write(f func(fd uintptr) bool) error {
	return r.wait(f, syscall.RawConn.Write)
}

func (r fdRawConn) wait(f func(fd uintptr) bool, through func(syscall.RawConn, func(uintptr) bool) error) error {
	fc := r.fc
	fc.mu.Lock()
	if fc.gc == nil && !fc.closed {
		if f(uintptr(fc.fd)) {
			fc.mu.Unlock()
			return nil
		}
	}
	gc, err := fc.goConnLocked()
	fc.mu.Unlock()
	if err != nil {
		return err
	}
	return rawOf(gc, func(rc syscall.RawConn) error { return through(rc, f) })
}

func rawOf(c net.Conn, do func(syscall.RawConn) error) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return errors.New("httpev: connection has no descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return do(rc)
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
