package memconn

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// Listener is a net.Listener whose connections are handed to it in
// memory with Deliver. It has a SetDeadline, like a TCP listener, so that
// a server can wake a blocked Accept to pause accepting.
type Listener struct {
	addr      net.Addr
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	dl        deadline
}

// NewListener returns a listener reporting addr as its address. Servers
// tell listeners apart by address, so give each one its own.
func NewListener(addr net.Addr) *Listener {
	return &Listener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Deliver hands c to a call of Accept, waiting for one. It fails with
// net.ErrClosed once the listener is closed, or with ctx's error.
func (l *Listener) Deliver(ctx context.Context, c net.Conn) error {
	select {
	case l.conns <- c:
		return nil
	case <-l.closed:
		return l.opError("dial", net.ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	if isClosed(l.closed) {
		return nil, l.opError("accept", net.ErrClosed)
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, l.opError("accept", net.ErrClosed)
	case <-l.dl.done():
		return nil, l.opError("accept", os.ErrDeadlineExceeded)
	}
}

// SetDeadline makes Accept fail with os.ErrDeadlineExceeded from t on;
// the zero time removes the deadline.
func (l *Listener) SetDeadline(t time.Time) error {
	l.dl.set(t)
	return nil
}

// Close implements net.Listener. Connections already accepted stay open.
func (l *Listener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		close(l.closed)
	})
	if !first {
		return l.opError("close", net.ErrClosed)
	}
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return l.addr }

func (l *Listener) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "memory", Addr: l.addr, Err: err}
}
