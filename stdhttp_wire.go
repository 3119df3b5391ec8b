package httpev

import (
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/httpev/httpev/internal/memconn"
)

// writeHead formats the request head and, when it fits the connection's
// buffer, writes it at once, before the engine is even connected.
func (x *exchange) writeHead() {
	r := x.r
	x.hasBody = r.Body != nil && r.Body != http.NoBody
	x.chunked = x.hasBody && r.ContentLength <= 0
	bp := x.h.bufs.Get().(*[]byte)
	*bp = appendRequestHead((*bp)[:0], r, x.hasBody, x.chunked)
	if len(*bp) <= memconn.DefaultBufferSize {
		_, _ = x.conn.Write(*bp) // cannot fail: nobody has the other end yet
		*bp = (*bp)[:0]
	}
	x.head = bp
}

// send writes what is left of the request head to the engine and starts
// copying the body, if any, in its own goroutine, so that the engine may
// answer before the body is all in (an early 413, a streaming reply). It
// reports false when the engine is already gone.
func (x *exchange) send() bool {
	bp := x.head
	x.head = nil
	var err error
	if len(*bp) > 0 {
		_, err = x.conn.Write(*bp)
	}
	*bp = (*bp)[:cap(*bp)]
	if err != nil || !x.hasBody {
		x.h.bufs.Put(bp)
		return err == nil
	}
	if x.r.ProtoMajor == 1 {
		// HTTP/1 handlers may not read the body once they write, unless
		// asked: the engine answers while it reads.
		_ = http.NewResponseController(x.w).EnableFullDuplex()
	}
	x.bodyDone = make(chan struct{})
	go func() {
		defer close(x.bodyDone)
		defer x.h.bufs.Put(bp)
		if x.chunked {
			x.bodyErr = x.copyChunked(*bp)
		} else {
			x.bodyErr = x.copyLength(*bp, x.r.ContentLength)
		}
		if x.bodyErr != nil {
			x.conn.Close() // the engine sees the body end early
		}
	}()
	return true
}

func (x *exchange) copyLength(buf []byte, n int64) error {
	m, err := io.CopyBuffer(x.conn, io.LimitReader(x.r.Body, n), buf)
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// copyChunked sends the body with chunked coding, one Write per chunk: the
// size line is put in front of the data in buf and the CRLF after it.
func (x *exchange) copyChunked(buf []byte) error {
	const room = 10 // "7ffe\r\n" and more: hex digits of len(buf) plus CRLF
	for {
		n, err := x.r.Body.Read(buf[room : len(buf)-2])
		if n > 0 {
			line := strconv.AppendInt(buf[:0:room], int64(n), 16)
			line = append(line, '\r', '\n')
			start := room - len(line)
			copy(buf[start:], line)
			end := room + n
			buf[end], buf[end+1] = '\r', '\n'
			if _, werr := x.conn.Write(buf[start : end+2]); werr != nil {
				return nil // the engine answered and closed; not the body's fault
			}
		}
		if err == io.EOF {
			_, werr := x.conn.Write([]byte("0\r\n\r\n"))
			_ = werr // as above
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// appendRequestHead writes r's request line and headers as the engine will
// parse them: HTTP/1.1, path-and-query target (after any StripPrefix), the
// end-to-end headers, framing for the body and Connection: close.
func appendRequestHead(b []byte, r *http.Request, hasBody, chunked bool) []byte {
	target := r.URL.RequestURI()
	if target == "" {
		target = "/"
	}
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\n"...)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if host != "" {
		b = appendWireHeader(b, "Host", host)
	}
	drop := connectionTokens(r.Header)
	for k, vs := range r.Header {
		if isHopByHop(k) || drop[textproto.CanonicalMIMEHeaderKey(k)] ||
			strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") ||
			strings.EqualFold(k, "Expect") {
			continue
		}
		for _, v := range vs {
			b = appendWireHeader(b, k, v)
		}
	}
	switch {
	case chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case hasBody:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "Connection: close\r\n\r\n"...)
}

// appendWireHeader writes one field line. net/http has already refused
// CR and LF in names and values; dropping them again costs nothing and
// keeps a hand-built request from splitting the head.
func appendWireHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return append(b, "\r\n"...)
}

// isHopByHop reports the fields that describe one connection rather than
// the message (RFC 9110 section 7.6.1), plus Proxy-Connection, which some
// clients still send.
func isHopByHop(k string) bool {
	switch textproto.CanonicalMIMEHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
}

// connectionTokens returns the fields a Connection header declares
// hop-by-hop.
func connectionTokens(h http.Header) map[string]bool {
	vs := h.Values("Connection")
	if len(vs) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				m[textproto.CanonicalMIMEHeaderKey(tok)] = true
			}
		}
	}
	return m
}

// copyResponseHeader passes the engine's response fields to net/http,
// replacing what middleware set before (the engine's answer is the
// handler's), without the connection-level ones.
func copyResponseHeader(dst, src http.Header) {
	drop := connectionTokens(src)
	for k, vs := range src {
		if isHopByHop(k) || drop[k] {
			continue
		}
		dst[k] = vs
	}
}
