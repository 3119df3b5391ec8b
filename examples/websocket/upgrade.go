package main

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"
	"github.com/httpev/httpev"
)

// upgrade accepts a WebSocket from a plain CGI callback, for programs
// written against httpev's own API rather than net/http. websocket.Accept
// wants a ResponseWriter that can hijack: giveUpWriter is the smallest one,
// answering through the CGI and hijacking with CGI.GiveUpHandle, which
// sends the 101 head the handshake set and hands the socket over (with any
// bytes the client sent after its request). A request that is not a
// WebSocket handshake gets Accept's own 4xx, through the CGI.
func upgrade(c *httpev.CGI, opts *websocket.AcceptOptions) (*websocket.Conn, error) {
	major, minor, ok := http.ParseHTTPVersion(c.Env("SERVER_PROTOCOL"))
	if !ok {
		major, minor = 1, 0
	}
	h := c.RequestHeader()
	r := &http.Request{
		Method:     c.Method(),
		URL:        &url.URL{Path: c.Path(), RawQuery: c.Env("QUERY_STRING")},
		Proto:      c.Env("SERVER_PROTOCOL"),
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     h,
		Host:       h.Get("Host"), // Accept compares the Origin with it
		RemoteAddr: c.RemoteAddr().String(),
	}
	h.Del("Host")
	return websocket.Accept(&giveUpWriter{c: c, header: http.Header{}}, r, opts)
}

// giveUpWriter is an http.ResponseWriter and http.Hijacker over a CGI.
type giveUpWriter struct {
	c      *httpev.CGI
	header http.Header
	status int
}

func (w *giveUpWriter) Header() http.Header { return w.header }

// WriteHeader sets the status and headers in the CGI way (a Status field).
func (w *giveUpWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	h := w.header.Clone()
	h.Set("Status", strconv.Itoa(code))
	w.c.Header(h)
}

func (w *giveUpWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.c.Write(p)
}

// Hijack gives the connection up: from here on it is the WebSocket's.
func (w *giveUpWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, err := w.c.GiveUpHandle()
	if err != nil {
		return nil, nil, err
	}
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}
