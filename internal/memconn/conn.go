package memconn

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultBufferSize is how many bytes each direction of a connection holds
// before a writer waits for the reader.
const DefaultBufferSize = 64 << 10

// Conn is one end of an in-memory connection. It behaves like a TCP
// socket as far as the httpev engine can tell: reads return io.EOF after
// the peer closes, writes to a closed peer fail with syscall.EPIPE, use of
// a closed Conn fails with net.ErrClosed, and deadlines fail an operation
// with os.ErrDeadlineExceeded, waking it if it is blocked. It is safe for
// concurrent use.
type Conn struct {
	in, out       *pipe
	local, remote net.Addr
	rdl, wdl      *deadline
	closed        chan struct{}
	closeOnce     sync.Once
	readWait      atomic.Pointer[func()]
}

// Pipe returns the two ends of a new connection; addrA is a's local
// address and b's remote one, and the other way round. size bounds each
// direction's buffer (DefaultBufferSize when 0 or less).
func Pipe(addrA, addrB net.Addr, size int) (a, b *Conn) {
	if size <= 0 {
		size = DefaultBufferSize
	}
	ab, ba := &pipe{limit: size}, &pipe{limit: size}
	a = &Conn{in: ba, out: ab, local: addrA, remote: addrB,
		rdl: new(deadline), wdl: new(deadline), closed: make(chan struct{})}
	b = &Conn{in: ab, out: ba, local: addrB, remote: addrA,
		rdl: new(deadline), wdl: new(deadline), closed: make(chan struct{})}
	return a, b
}

// SetReadWaitHook makes every Read that is about to block for lack of data
// call f first (once per Read, with no lock held). A proxy uses it to flush
// what it has passed on exactly when its source runs dry. f runs on the
// reading goroutine; nil removes the hook.
func (c *Conn) SetReadWaitHook(f func()) {
	if f == nil {
		c.readWait.Store(nil)
		return
	}
	c.readWait.Store(&f)
}

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) {
	hooked := false
	p := c.in
	for {
		p.mu.Lock()
		if p.unread() > 0 && len(b) > 0 {
			n := p.takeLocked(b)
			p.mu.Unlock()
			return n, nil
		}
		var err error
		switch {
		case isClosed(c.closed):
			err = c.opError("read", net.ErrClosed)
		case p.unread() > 0: // len(b) == 0
		case p.eof:
			err = io.EOF
		case c.rdl.expired():
			err = c.opError("read", os.ErrDeadlineExceeded)
		case len(b) == 0:
		default:
			wait := p.waitLocked()
			p.mu.Unlock()
			if h := c.readWait.Load(); h != nil && !hooked {
				hooked = true
				(*h)()
				continue
			}
			select {
			case <-wait:
			case <-c.rdl.done():
			case <-c.closed:
			}
			continue
		}
		p.mu.Unlock()
		return 0, err
	}
}

// Write implements net.Conn. It returns once all of b is buffered, or with
// the number of bytes buffered before an error.
func (c *Conn) Write(b []byte) (int, error) {
	p := c.out
	total := 0
	for {
		p.mu.Lock()
		var err error
		switch {
		case isClosed(c.closed):
			err = c.opError("write", net.ErrClosed)
		case p.broken || p.eof:
			err = c.opError("write", syscall.EPIPE)
		case c.wdl.expired():
			err = c.opError("write", os.ErrDeadlineExceeded)
		case len(b) == 0:
		default:
			if n := p.putLocked(b); n > 0 {
				p.mu.Unlock()
				b, total = b[n:], total+n
				if len(b) == 0 {
					// Done: the peer may read it all and close at once,
					// which must not turn this write into a failure.
					return total, nil
				}
				continue
			}
			wait := p.waitLocked()
			p.mu.Unlock()
			select {
			case <-wait:
			case <-c.wdl.done():
			case <-c.closed:
			}
			continue
		}
		p.mu.Unlock()
		return total, err
	}
}

// Close implements net.Conn. Bytes already written stay readable by the
// peer, which then sees io.EOF; bytes the peer sent and this end never
// read are dropped.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
		c.in.closeRead()
		c.out.closeWrite()
	})
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	return nil
}

// CloseWrite ends the stream this end sends, as TCP's shutdown does: the
// peer reads what was written, then io.EOF, while this end can still read.
func (c *Conn) CloseWrite() error {
	if isClosed(c.closed) {
		return c.opError("close", net.ErrClosed)
	}
	c.out.closeWrite()
	return nil
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "memory", Source: c.local, Addr: c.remote, Err: err}
}
