package httpev

import (
	"crypto/tls"
	"net"
)

// TCP keep-alive probes. Go turns them on for every accepted connection,
// at the price of several setsockopt calls per connection (about 13% of the
// server's CPU when each request comes on a new connection). The server's
// own timeouts already cover almost every state: Timeout while a request
// arrives, IdleTimeout between requests, WriteTimeout while output waits.
// What none covers is a request that outlives its callback (Keep: a long
// poll, a stream that writes rarely) whose client vanished without a FIN
// (power loss, a dropped NAT mapping). So listeners the server opens leave
// probes off, and a connection gets them when it enters that state.

// probeKeepAlive turns on TCP keep-alive probes (Go's defaults: first probe
// after 15 s idle) for this connection, once.
func (c *conn) probeKeepAlive() {
	if c.probing.Swap(true) {
		return
	}
	if tc := tcpConn(c.nc); tc != nil {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
	}
}

// tcpConn is the TCP connection under nc, nil for other kinds.
func tcpConn(nc net.Conn) *net.TCPConn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if g, ok := nc.(goConner); ok {
		nc, _ = g.GoConn()
	}
	tc, _ := nc.(*net.TCPConn)
	return tc
}

// goConner is a connection served outside Go's netpoller (internal/rawfd)
// that can become a Go connection for code that needs one.
type goConner interface{ GoConn() (net.Conn, error) }
