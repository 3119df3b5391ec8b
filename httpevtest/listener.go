package httpevtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/httpev/httpev/internal/memconn"
)

// Listener is an in-memory net.Listener for Server.Listen: end-to-end
// tests of a whole server (handler tables, keep-alive, pipelining, Stop and
// Start) without ports, so they run in parallel and never collide with
// anything on the machine. Connections behave like TCP ones, deadlines
// included; each direction buffers 64 KB.
//
// The server sees every client at 127.0.0.1 with a port of its own and
// itself at 127.0.0.1:80.
type Listener struct {
	ml   *memconn.Listener
	port atomic.Uint32
}

// NewListener returns a Listener with an address of its own, so that one
// Server can listen on several.
func NewListener() *Listener {
	l := &Listener{}
	l.ml = memconn.NewListener(memconn.Addr(fmt.Sprintf("httpevtest-%p", l)))
	return l
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) { return l.ml.Accept() }

// Close implements net.Listener; Dial fails afterwards.
func (l *Listener) Close() error { return l.ml.Close() }

// Addr implements net.Listener. It is not a dialable address: use Dial.
func (l *Listener) Addr() net.Addr { return l.ml.Addr() }

// SetDeadline wakes Accept at t, as on a TCP listener; PortListener.Stop
// relies on it.
func (l *Listener) SetDeadline(t time.Time) error { return l.ml.SetDeadline(t) }

// Dial opens a connection to the listener, waiting until the server
// accepts it.
func (l *Listener) Dial() (net.Conn, error) {
	return l.DialContext(context.Background(), "tcp", "")
}

// DialContext is Dial for http.Transport.DialContext: network and address
// are ignored, every connection goes to this listener.
func (l *Listener) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	port := 10000 + int(l.port.Add(1)%50000)
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	server := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}
	c, s := memconn.Pipe(client, server, 0)
	if err := l.ml.Deliver(ctx, s); err != nil {
		_, _ = c.Close(), s.Close()
		return nil, err
	}
	return c, nil
}

// Client returns an HTTP client whose connections all go to the listener,
// whatever host a URL names ("http://app.test/login" is customary). It
// keeps connections alive like any client; call CloseIdleConnections to
// end them.
func (l *Listener) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:       l.DialContext,
		ForceAttemptHTTP2: false,
		MaxIdleConns:      10,
		IdleConnTimeout:   30 * time.Second,
	}, Timeout: 60 * time.Second}
}
