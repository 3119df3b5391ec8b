package rawfd

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Conn is a TCP connection out of Go's netpoller.
//
// Reads and writes that would block hand the connection to Go: the
// descriptor is duplicated into a net.Conn from net.FileConn (registered in
// the netpoller, with the deadlines set so far), and from then on every
// call goes to it, until FD takes it out again. A Conn thus blocks only
// through Go, and code written for net.Conn works unchanged.
//
// Deadlines bound waiting, which only the Go connection does: a raw read
// or write that can be done at once is done whatever the deadline (a past
// deadline, which a shutdown sets to wake a waiting read, still ends the
// wait at once).
//
// The raw descriptor is only used under mu, and its system calls never
// block, so Close from another goroutine waits for at most one of them and
// the descriptor number is never used after it was closed and perhaps
// reused.
type Conn struct {
	mu           sync.Mutex
	fd           int             // guarded by mu: the raw descriptor; -1 while gc serves or once closed
	gc           net.Conn        // guarded by mu: the Go connection while one is needed
	grc          syscall.RawConn // guarded by mu: gc's, made once with gc (each SyscallConn call allocates)
	closed       bool            // guarded by mu
	rdl, wdl     time.Time       // guarded by mu: deadlines, applied to gc when it is made
	laddr, raddr net.Addr
	hooks        Hooks // set once, before the Conn is shared
}

// Hooks tell the owner of a Conn (the poller's adapter) that its
// descriptor goes to Go.
type Hooks struct {
	// Leaving is called under the Conn's mutex with the raw descriptor
	// just before it is closed in favour of a Go connection: whatever
	// registered that number (an epoll set) must forget it now, before the
	// number can be reused. It must not start goroutines or block.
	Leaving func(fd int)
}

var errClosed = net.ErrClosed

// New wraps a raw, non-blocking, close-on-exec TCP descriptor.
func New(fd int, laddr, raddr net.Addr) *Conn {
	return &Conn{fd: fd, laddr: laddr, raddr: raddr}
}

// Detach takes tc's socket out of Go's netpoller: it duplicates the
// descriptor and closes tc (which unregisters it).
func Detach(tc *net.TCPConn) (*Conn, error) {
	fd, err := DupFromGo(tc)
	if err != nil {
		return nil, err
	}
	fc := New(fd, tc.LocalAddr(), tc.RemoteAddr())
	_ = tc.Close()
	return fc, nil
}

// SetHooks installs h; call it before the Conn is used from two goroutines.
func (fc *Conn) SetHooks(h Hooks) { fc.hooks = h }

// DupFromGo duplicates the descriptor of a Go connection or listener
// (close-on-exec, non-blocking, as the original).
func DupFromGo(c any) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("rawfd: connection has no descriptor")
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

// FD returns the raw descriptor, taking the connection out of Go's
// netpoller again if it went there since; -1 once closed.
func (fc *Conn) FD() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return -1
	}
	if fc.gc != nil {
		fd, err := DupFromGo(fc.gc)
		if err != nil {
			return -1
		}
		_ = fc.gc.Close()
		fc.gc, fc.grc, fc.fd = nil, nil, fd
	}
	return fc.fd
}

// IfRaw runs f with the raw descriptor, under the Conn's lock (it is not
// closed and does not go to Go meanwhile), when the connection is out of
// Go's netpoller and open; it reports whether f ran. Unlike FD it never
// takes the connection back from Go, which would cut a read or write
// waiting there.
func (fc *Conn) IfRaw(f func(fd int)) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.gc != nil || fc.closed {
		return false
	}
	f(fc.fd)
	return true
}

// goConnLocked hands the connection to Go.
func (fc *Conn) goConnLocked() (net.Conn, error) {
	if fc.gc != nil {
		return fc.gc, nil
	}
	if fc.closed {
		return nil, errClosed
	}
	if fc.hooks.Leaving != nil {
		fc.hooks.Leaving(fc.fd)
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
		// were (the owner turns them on when it wants them).
		_ = tc.SetKeepAlive(false)
	}
	_ = gc.SetReadDeadline(fc.rdl)
	_ = gc.SetWriteDeadline(fc.wdl)
	fc.gc = gc
	if sc, ok := gc.(syscall.Conn); ok {
		fc.grc, _ = sc.SyscallConn()
	}
	return gc, nil
}

// GoConn returns the connection as one of Go's, in its netpoller, for
// code that needs a *net.TCPConn (handing the socket to the application,
// TCP keep-alive settings).
func (fc *Conn) GoConn() (net.Conn, error) {
	fc.mu.Lock()
	gc, err := fc.goConnLocked()
	fc.mu.Unlock()
	return gc, err
}

func (fc *Conn) Read(p []byte) (int, error) {
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

func (fc *Conn) Write(p []byte) (int, error) {
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

func (fc *Conn) Close() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return errClosed
	}
	fc.closed = true
	if fc.gc != nil {
		return fc.gc.Close()
	}
	err := syscall.Close(fc.fd)
	fc.fd = -1
	return err
}

// CloseWrite shuts down the sending side (a lingering close).
func (fc *Conn) CloseWrite() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch {
	case fc.gc != nil:
		if cw, ok := fc.gc.(interface{ CloseWrite() error }); ok {
			return cw.CloseWrite()
		}
		return nil
	case fc.closed:
		return errClosed
	}
	return syscall.Shutdown(fc.fd, syscall.SHUT_WR)
}

func (fc *Conn) LocalAddr() net.Addr  { return fc.laddr }
func (fc *Conn) RemoteAddr() net.Addr { return fc.raddr }

func (fc *Conn) SetDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.rdl, fc.wdl = t, t
	if fc.gc != nil {
		return fc.gc.SetDeadline(t)
	}
	return nil
}

func (fc *Conn) SetReadDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.rdl = t
	if fc.gc != nil {
		return fc.gc.SetReadDeadline(t)
	}
	return nil
}

func (fc *Conn) SetWriteDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.wdl = t
	if fc.gc != nil {
		return fc.gc.SetWriteDeadline(t)
	}
	return nil
}

// SyscallConn gives the raw descriptor to code that reads without a
// buffer (httpev's idle wait). Its Read and Write wait through Go, as
// Read and Write do.
func (fc *Conn) SyscallConn() (syscall.RawConn, error) { return rawConn{fc}, nil }

type rawConn struct{ fc *Conn }

func (r rawConn) Control(f func(fd uintptr)) error {
	fc := r.fc
	fc.mu.Lock()
	if fc.gc == nil {
		defer fc.mu.Unlock()
		if fc.closed {
			return errClosed
		}
		f(uintptr(fc.fd))
		return nil
	}
	grc := fc.grc
	fc.mu.Unlock()
	if grc == nil {
		return errNoRaw
	}
	return grc.Control(f)
}

func (r rawConn) Read(f func(fd uintptr) bool) error {
	return r.wait(f, syscall.RawConn.Read)
}

func (r rawConn) Write(f func(fd uintptr) bool) error {
	return r.wait(f, syscall.RawConn.Write)
}

func (r rawConn) wait(f func(fd uintptr) bool, through func(syscall.RawConn, func(uintptr) bool) error) error {
	fc := r.fc
	fc.mu.Lock()
	if fc.gc == nil && !fc.closed {
		if f(uintptr(fc.fd)) {
			fc.mu.Unlock()
			return nil
		}
	}
	_, err := fc.goConnLocked()
	grc := fc.grc
	fc.mu.Unlock()
	switch {
	case err != nil:
		return err
	case grc == nil:
		return errNoRaw
	}
	return through(grc, f)
}

var errNoRaw = errors.New("rawfd: connection has no descriptor")

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

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

// Socket returns the listening socket Go holds, for a caller that takes
// connections from its queue directly (a graceful shutdown's drain).
func (rl *Listener) Socket() *net.TCPListener { return rl.TCPListener }

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

// sockaddrTCP is the address Go would report for sa.
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
