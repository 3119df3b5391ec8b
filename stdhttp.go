package httpev

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/httpev/httpev/internal/memconn"
)

// HTTPHandler is a CGI callback mounted as an http.Handler, so that it can
// live inside any net/http server or router (http.ServeMux, middleware
// chains, HTTP/2, net/http's TLS) and keep the whole CGI API, including
// httpev's uploads: multipart files still stream to temp files with the
// OnFile* callbacks and are never held in memory.
//
// Each request is bridged, not reimplemented: ServeHTTP opens an in-memory
// connection into the Server's own engine, writes the request to it as
// HTTP/1.1 (the body streamed from r.Body as it arrives), and copies the
// engine's response to the ResponseWriter, flushing whenever the engine
// pauses, so streamed responses and server-sent events reach the client as
// they are produced. What that means for the callback:
//
//   - SERVER_PROTOCOL is always "HTTP/1.1", whatever the client spoke; the
//     real protocol, TLS state and context (values set by middleware) are
//     on the original request, HTTPRequest(c). HTTPS is "on" when r.TLS is
//     set. REMOTE_ADDR/REMOTE_PORT come from r.RemoteAddr and
//     SERVER_ADDR/SERVER_PORT from http.LocalAddrContextKey.
//   - Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, TE,
//     Trailer, Upgrade, Proxy-Connection) and Expect are not passed in
//     either direction; net/http already answered 100-continue. Protocol
//     upgrades (WebSocket) are therefore not bridged: serve them with
//     net/http directly. The engine adds "Connection: close" to the request
//     it sees (HTTP_CONNECTION), as each bridged request has its own
//     in-memory connection.
//   - Both sets of limits apply: net/http's (MaxHeaderBytes, ReadTimeout,
//     http.MaxBytesReader) first, then the Server's Options and the
//     listener's Timeout, whose 4xx answers are passed on as they are.
//     A request body over an http.MaxBytesReader limit is answered 413.
//     Options.MaxConns counts bridged requests too: past it they wait in
//     ServeHTTP, or are answered 503 with RejectOverload.
//   - Callbacks run as on any httpev listener: with Threading off on the
//     Server's loop goroutine, not on ServeHTTP's, which waits for the
//     response; OnFileOpen, OnFileWrite and the others run exactly where
//     they would for a socket.
//   - A status line's reason phrase is not kept (net/http writes its own),
//     and trailers are not passed.
//   - CGI.Drop, or a response cut short, aborts ServeHTTP with
//     http.ErrAbortHandler, net/http's way to drop a connection (HTTP/1) or
//     reset a stream (HTTP/2). A client that goes away closes the in-memory
//     connection, so the callback's Context is cancelled and OnError runs.
//
// The bridge costs, per request, one in-memory connection (two buffers
// that grow to at most 64 KB each while data flows and are released when
// drained), the engine's connection goroutine plus one more while a body
// is copied, two extra memory copies of every byte, and about 70
// allocations (7 KB) and 20 µs of a 2-core machine's time for a small
// request (BenchmarkHTTPHandler). Over loopback that took a keep-alive GET
// from about 65 µs with net/http alone to 95 µs through the bridge; httpev
// serving the socket itself took 60 µs (BenchmarkBridgeOverLoopback).
type HTTPHandler struct {
	pl   *PortListener
	ln   *memconn.Listener
	bufs sync.Pool // *[]byte, for copying bodies
	brs  sync.Pool // *bufio.Reader, for reading responses
}

// NewHTTPHandler serves callback through srv's engine for requests that
// net/http delivers to the returned handler; opts are the listener options
// as for Server.Listen. TLS options are refused: TLS is the net/http
// server's job here. Close the handler (or the Server) to stop it; later
// requests are answered 503.
func NewHTTPHandler(srv *Server, callback func(*CGI), opts ListenOptions) (*HTTPHandler, error) {
	if opts.TLSConfig != nil || opts.CertFile != "" || opts.KeyFile != "" {
		return nil, errors.New("httpev: NewHTTPHandler: TLS options do not apply; net/http terminates TLS")
	}
	h := &HTTPHandler{}
	h.ln = memconn.NewListener(memconn.Addr(fmt.Sprintf("httpev-bridge-%p", h)))
	pl, err := srv.Listen(h.ln, callback, opts)
	if err != nil {
		return nil, err
	}
	h.pl = pl
	h.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	h.brs.New = func() any { return bufio.NewReaderSize(nil, 4<<10) }
	return h, nil
}

// Listener returns the engine's listener behind the handler, for Stop and
// Start (requests then wait in ServeHTTP, as clients wait in a socket's
// backlog) or a graceful Shutdown of this handler alone.
func (h *HTTPHandler) Listener() *PortListener { return h.pl }

// Close stops the handler: requests in flight are cut and later ones are
// answered 503 Service Unavailable.
func (h *HTTPHandler) Close() error { return h.pl.Close() }

// HTTPRequest returns the net/http request a CGI was bridged from by an
// HTTPHandler, or nil for a request that came from a socket. It gives the
// callback what the HTTP/1.1 bridge does not carry: the client's protocol
// (r.Proto), the TLS state and the request's context, with any values
// middleware put there. Its Body belongs to the bridge; read the body
// through the CGI.
func HTTPRequest(c *CGI) *http.Request {
	switch nc := c.Conn().(type) {
	case *bridgeConn:
		return nc.req
	case *bridgeTLSConn:
		return nc.req
	}
	return nil
}

// bridgeConn is the engine's end of one bridged request.
type bridgeConn struct {
	*memconn.Conn
	req *http.Request
}

// bridgeTLSConn is a bridgeConn for a request that arrived over TLS; its
// ConnectionState is how the engine knows to say HTTPS=on.
type bridgeTLSConn struct{ *bridgeConn }

func (c *bridgeTLSConn) ConnectionState() tls.ConnectionState { return *c.req.TLS }

// ServeHTTP implements http.Handler.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	local, _ := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		local = h.ln.Addr()
	}
	client, server := memconn.Pipe(clientAddr(r.RemoteAddr), local, 0)
	var nc net.Conn = &bridgeConn{Conn: server, req: r}
	if r.TLS != nil {
		nc = &bridgeTLSConn{nc.(*bridgeConn)}
	}
	x := &exchange{h: h, w: w, r: r, conn: client}
	// The head goes into the connection's buffer before the engine has
	// it, so that its first read finds the request instead of waiting.
	x.writeHead()
	if err := h.ln.Deliver(ctx, nc); err != nil {
		_, _ = client.Close(), server.Close()
		if ctx.Err() == nil {
			http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		}
		return
	}
	defer func() {
		if !x.complete {
			client.Close()
		}
	}()
	// A client that leaves closes the connection under the engine, which
	// ends the request like a socket reset would.
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()

	defer x.wait()
	if !x.send() {
		x.abort()
		return
	}
	x.receive()
}

// clientAddr makes r.RemoteAddr a *net.TCPAddr, as the engine expects of a
// client, when it is an IP address and port.
func clientAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return memconn.Addr(s)
}

// exchange is one request crossing the bridge.
type exchange struct {
	h        *HTTPHandler
	w        http.ResponseWriter
	r        *http.Request
	conn     *memconn.Conn
	head     *[]byte // the request head not yet written, a pooled buffer
	hasBody  bool
	chunked  bool
	bodyDone chan struct{} // closed when the body copier ends; nil without a body
	bodyErr  error         // why the body copier stopped, once bodyDone is closed
	wrote    bool          // the response head went to w
	// complete is set once the whole response is in. The bridge then
	// leaves its end of the connection to the garbage collector rather
	// than closing it: the engine closes its own end after a
	// "Connection: close" response, and a close from this side right after
	// the last byte could reach the engine while it still watches for a
	// client leaving, and fire OnError for a request that succeeded.
	complete bool
}

// wait returns once the body copier is done with r.Body, which must not
// be touched after ServeHTTP returns.
func (x *exchange) wait() {
	if x.bodyDone == nil {
		return
	}
	if !x.complete {
		x.conn.Close() // a copier blocked on the engine gives up
	} // else the engine is closing its end, which stops the copier too
	<-x.bodyDone
}

// abort ends a request the engine did not answer in full.
func (x *exchange) abort() {
	if x.r.Context().Err() != nil {
		return // the client left: nobody to answer
	}
	if x.bodyDone != nil {
		x.conn.Close()
		<-x.bodyDone
		var mbe *http.MaxBytesError
		if errors.As(x.bodyErr, &mbe) && !x.wrote {
			http.Error(x.w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return
		}
	}
	// The engine dropped the request or cut its response: make net/http
	// drop the connection (or reset the stream) too, rather than end the
	// response as if it were complete.
	panic(http.ErrAbortHandler)
}

// receive copies the engine's response to w.
func (x *exchange) receive() {
	br := x.h.brs.Get().(*bufio.Reader)
	br.Reset(x.conn)
	defer func() { br.Reset(nil); x.h.brs.Put(br) }()
	resp, err := readFinalResponse(br, x.r.Method)
	if err != nil {
		x.abort()
		return
	}
	copyResponseHeader(x.w.Header(), resp.Header)
	x.w.WriteHeader(resp.StatusCode)
	x.wrote = true

	// Flush exactly when the engine has nothing more for now: before a
	// read of the connection would block.
	rc := http.NewResponseController(x.w)
	dirty := true
	x.conn.SetReadWaitHook(func() {
		if dirty {
			dirty = false
			_ = rc.Flush()
		}
	})
	bp := x.h.bufs.Get().(*[]byte)
	defer x.h.bufs.Put(bp)
	for {
		n, err := resp.Body.Read(*bp)
		if n > 0 {
			if _, werr := x.w.Write((*bp)[:n]); werr != nil {
				return // the client is gone; closing the conn tells the engine
			}
			dirty = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			x.conn.SetReadWaitHook(nil)
			x.abort()
			return
		}
	}
	x.conn.SetReadWaitHook(nil)
	x.complete = true
}

// readFinalResponse reads the response head, skipping informational
// responses, which the engine only sends for protocols the bridge does not
// carry.
func readFinalResponse(br *bufio.Reader, method string) (*http.Response, error) {
	req := &http.Request{Method: method}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("httpev: protocol switch cannot cross the net/http bridge")
		case resp.StatusCode >= 200:
			return resp, nil
		}
	}
}
