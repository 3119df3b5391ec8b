package httpev

import (
	"net"
)

// GiveUpHandle hands the connection to the application and takes the
// server out of it, for protocols that take over after an HTTP exchange
// (WebSocket after a 101, CONNECT tunnels). Output already written to the
// request is sent first, as is, without chunked framing; bytes the client
// already sent past the request head are returned first by the returned
// conn's Read. The caller must close the conn. Later output calls on the
// request fail with ErrHandleGivenUp.
func (q *CGI) GiveUpHandle() (net.Conn, error) {
	c := q.cn
	c.probeKeepAlive() // as on a socket fresh from net.Listen
	c.cr.abortBackgroundRead()
	c.unwatchClient()
	b := &q.out
	signal := false
	defer func() {
		if signal {
			b.signal() // after wmu: it may start the pump goroutine
		}
	}()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b.mu.Lock()
	if err := b.errLocked(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	// Answers held back for pipelined requests go first (pipeline.go).
	out := append([]byte(nil), c.hdr[:c.held]...)
	c.released()
	r := &q.resp
	if !r.sent && (len(b.data) > 0 || r.header != nil) {
		q.frame = frameRaw
		out = c.appendHead(out, q, 0)
		r.sent = true
	}
	out = append(out, b.data...)
	b.data = b.data[:0]
	// The connection goroutine is parked in pump until signalled, so the
	// read buffer is still ours to copy from.
	cr := &c.cr
	var pending []byte
	if cr.bgHave {
		pending = append(pending, cr.bgByte[0])
		cr.bgHave = false
	}
	pending = append(pending, cr.buf[cr.r:cr.w]...)
	cr.r = cr.w
	b.waitsLocked().err = ErrHandleGivenUp
	c.gaveUp.Store(true)
	b.mu.Unlock()
	signal = true
	nc := c.nc
	if g, ok := nc.(goConner); ok {
		// The application gets a connection of Go's, in its netpoller.
		gc, err := g.GoConn()
		if err != nil {
			return nil, err
		}
		nc = gc
	}
	if len(out) > 0 {
		c.setWriteDeadline()
		n, err := nc.Write(out)
		c.st.countOut(int64(n))
		if err != nil {
			return nil, err
		}
	}
	_ = nc.SetDeadline(timeZero)
	return &handedConn{Conn: nc, pending: pending}, nil
}

// handedConn returns bytes the server had already read before the socket's.
type handedConn struct {
	net.Conn
	pending []byte
}

func (h *handedConn) Read(p []byte) (int, error) {
	if len(h.pending) > 0 {
		n := copy(p, h.pending)
		h.pending = h.pending[n:]
		return n, nil
	}
	return h.Conn.Read(p)
}
