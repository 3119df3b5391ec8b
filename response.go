package httpev

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// framing is how a response body is delimited on the wire.
type framing uint8

const (
	frameLength  framing = iota // Content-Length, body complete before the head went out
	frameChunked                // HTTP/1.1, length unknown
	frameClose                  // HTTP/1.0, length unknown: the body ends when the connection closes
	frameRaw                    // the application set Content-Length itself
	frameNone                   // no body allowed: HEAD, 1xx, 204, 304
)

// errAborted cuts a response whose callback panicked after the head went out.
var errAborted = errors.New("httpev: response aborted")

// smallWrite is the size under which head and body are copied into one
// buffer and sent with one write: cheaper than writev for small responses,
// and one TLS record instead of two.
const smallWrite = 4 << 10

// takeIfDue hands pending output to the connection goroutine when it is due:
// past the threshold, flushed, or finished. ok is false otherwise.
func (b *Buffer) takeIfDue() (data []byte, fin, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !(b.finished || b.flushReq || len(b.data) >= b.sig.cfg.threshold || b.errLocked() != nil) {
		return nil, false, false, nil
	}
	data, fin, _, err = b.takeLocked()
	return data, fin, true, err
}

// send writes one piece of the response: the head first if it has not
// gone out, then data framed as the response requires, then the end of
// the body when fin.
func (c *conn) send(q *CGI, data []byte, fin bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr // writing held answers failed (pipeline.go)
	}
	b := &q.out
	b.mu.Lock()
	out, abort := c.headLocked(q, fin)
	b.mu.Unlock()
	return c.writeLocked(q, out, data, fin, abort)
}

// sendRest finishes q's response and sends all of its output that is left
// (sendFinished): marking the end, taking the output and writing the head
// share one turn of the Buffer's mutex, which finishTake and send took
// two for. data is the output taken, for written. An answer held back for
// the pipeline's next write (most of a pipelined batch) is recorded as
// written in that turn too, where wroteLast would take another: done
// reports it.
func (c *conn) sendRest(q *CGI) (data []byte, done bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := &q.out
	b.mu.Lock()
	b.finished = true
	data, _, _, err = b.takeLocked()
	if err == nil {
		err = c.werr // writing held answers failed (pipeline.go)
	}
	if err != nil {
		b.mu.Unlock()
		return data, false, err
	}
	out, abort := c.headLocked(q, true)
	out, vec := c.frameLocked(q, out, data, true, abort)
	// Before the write: the client may read the end and close before it
	// returns, and the background read must not take that for a client
	// gone mid-response (sendPiece).
	q.flags.Or(flagCompleted)
	hold := len(vec) == 0 && c.mayHold(q, abort, len(out))
	if hold && b.waits == nil {
		// No flush waiters or error callbacks to call (they would be
		// called unlocked): wroteLast's work, here.
		c.hold(out)
		c.wroteLastLocked(q, data) // nothing to fire: no waits
		b.mu.Unlock()
		return data, true, nil
	}
	b.mu.Unlock()
	if hold {
		c.hold(out)
		return data, false, nil
	}
	return data, false, c.writeOutLocked(q, out, vec, true, abort)
}

// headLocked begins what send writes: the answers held back, then the
// head if it has not gone out. wmu and the Buffer's mutex are held.
func (c *conn) headLocked(q *CGI, fin bool) (out []byte, abort bool) {
	r := &q.resp
	out = c.hdr[:c.held] // held answers go first, in the same write (pipeline.go)
	if !r.sent {
		q.frame = c.chooseFraming(q, fin)
		out = c.appendHead(out, q, q.out.queued)
		r.sent = true
	}
	return out, r.abort
}

// writeLocked writes out (held answers, the head) and data framed as the
// response requires, then the end of the body when fin; wmu held.
func (c *conn) writeLocked(q *CGI, out, data []byte, fin, abort bool) error {
	out, vec := c.frameLocked(q, out, data, fin, abort)
	if fin && len(vec) == 0 && c.mayHold(q, abort, len(out)) {
		c.hold(out)
		return nil
	}
	return c.writeOutLocked(q, out, vec, fin, abort)
}

// frameLocked appends data, framed as the response requires, to out, and
// the end of the body when fin; a large data goes in vec instead, with out
// before it. wmu held.
func (c *conn) frameLocked(q *CGI, out, data []byte, fin, abort bool) ([]byte, net.Buffers) {
	vec := c.vecArr[:0]
	if q.frame == frameNone {
		data = nil
	}
	if len(data) > 0 {
		if q.frame == frameChunked {
			out = strconv.AppendInt(out, int64(len(data)), 16)
			out = append(out, "\r\n"...)
		}
		if len(out)+len(data) <= smallWrite {
			out = append(out, data...)
		} else {
			vec = append(vec, out, data)
			out = nil
		}
		if q.frame == frameChunked {
			if len(vec) == 0 {
				out = append(out, "\r\n"...)
			} else {
				vec = append(vec, crlf)
			}
		}
	}
	if fin && q.frame == frameChunked && !abort && !q.out.discard {
		if len(vec) == 0 {
			out = append(out, "0\r\n\r\n"...)
		} else {
			vec = append(vec, lastChunk)
		}
	}
	return out, vec
}

// writeOutLocked writes what frameLocked made; wmu held.
func (c *conn) writeOutLocked(q *CGI, out []byte, vec net.Buffers, fin, abort bool) error {
	c.setWriteDeadline()
	var err error
	var n int64
	if len(vec) > 0 {
		c.hdr = vec[0][:0]
		c.vec = vec // a field, so WriteTo's pointer receiver does not allocate
		n, err = c.vec.WriteTo(c.nc)
		clear(c.vecArr[:])
	} else {
		c.hdr = out[:0]
		var m int
		m, err = c.nc.Write(out)
		n = int64(m)
	}
	c.st.countOut(n)
	c.released()
	if err != nil {
		c.werr = err
		return err
	}
	if fin && (q.frame == frameClose || abort) {
		q.closeConn = true
		if abort {
			return errAborted
		}
	}
	return nil
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// chooseFraming picks how the body is delimited, called when the head is
// about to be sent (with the Buffer locked).
func (c *conn) chooseFraming(q *CGI, fin bool) framing {
	r := &q.resp
	switch {
	case !bodyAllowed(r.code()):
		return frameNone
	case r.userLength:
		return frameRaw
	case fin:
		return frameLength // for HEAD too: the length GET would have had
	case c.req.Minor >= 1:
		return frameChunked
	}
	return frameClose
}

// appendHead serializes the status line and headers (Buffer locked).
func (c *conn) appendHead(dst []byte, q *CGI, length int64) []byte {
	r := &q.resp
	req := &c.req
	if req.Minor == 0 {
		dst = append(dst, "HTTP/1.0 "...)
	} else {
		dst = append(dst, "HTTP/1.1 "...)
	}
	code := r.code()
	switch {
	case r.extra != nil && r.extra.reason != "":
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, ' ')
		dst = append(dst, r.extra.reason...)
		dst = append(dst, "\r\n"...)
	case code >= 100 && code < len(statusLines) && statusLines[code] != "":
		dst = append(dst, statusLines[code]...)
	default:
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, " Status\r\n"...)
	}
	var haveType, haveServer, haveDate bool
	// A 101 hands the connection over (GiveUpHandle): its Connection field
	// is the application's, and keep-alive no longer applies.
	upgrade := r.code() == http.StatusSwitchingProtocols
	header := r.header
	if r.ct != nil {
		// A shared Content-Type-only header: its line is ready, and
		// Content-Type is none of the fields the loop below acts on.
		dst = append(dst, r.ct.line...)
		haveType, header = true, nil
	}
	for k, vs := range header {
		switch {
		case strings.EqualFold(k, "Content-Type"):
			haveType = true // an empty value asks for no Content-Type at all
			if len(vs) == 1 && vs[0] == "" {
				continue
			}
		case strings.EqualFold(k, "Server"):
			haveServer = true
		case strings.EqualFold(k, "Date"):
			haveDate = true
		case strings.EqualFold(k, "Transfer-Encoding"):
			continue // framing is the server's job
		case strings.EqualFold(k, "Connection"):
			if upgrade {
				break // "Connection: Upgrade" belongs to the 101 (RFC 9110 7.8)
			}
			for _, v := range vs {
				if strings.Contains(strings.ToLower(v), "close") {
					q.closeConn = true
				}
			}
			continue
		}
		for _, v := range vs {
			dst = appendHeaderLine(dst, k, v)
		}
	}
	if len(c.srv.defaultHeaders) > 0 {
		for k, vs := range c.srv.defaultHeaders {
			if _, set := r.header[k]; !set {
				for _, v := range vs {
					dst = appendHeaderLine(dst, k, v)
				}
			}
		}
	}
	if !haveServer {
		dst = append(dst, "Server: "...)
		dst = append(dst, c.srv.opts.ServerName...)
		dst = append(dst, "\r\n"...)
	}
	if !haveDate {
		dst = append(dst, "Date: "...)
		dst = c.srv.appendDate(dst)
		dst = append(dst, "\r\n"...)
	}
	if !haveType && bodyAllowed(r.code()) {
		dst = append(dst, "Content-Type: text/html\r\n"...)
	}
	var cookies []string
	if r.extra != nil {
		cookies = r.extra.cookies
	}
	for _, ck := range cookies {
		dst = appendHeaderLine(dst, "Set-Cookie", ck)
	}
	switch q.frame {
	case frameLength:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, length, 10)
		dst = append(dst, "\r\n"...)
	case frameChunked:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case frameClose:
		q.closeConn = true
	}
	closing := q.closeConn || req.Close || c.closing.Load() || q.bodyBroken()
	switch {
	case upgrade:
	case closing:
		q.closeConn = true
		dst = append(dst, "Connection: close\r\n"...)
	case req.Minor == 0:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// statusLines holds the rest of the status line after "HTTP/1.x " for
// the codes net/http names ("200 OK\r\n"; "" for the others, which get
// "Status" as their reason). Made once, it spares each response
// formatting its code and looking its reason up.
var statusLines = func() []string {
	l := make([]string, 600)
	for code := 100; code < len(l); code++ {
		if t := http.StatusText(code); t != "" {
			l[code] = strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
	return l
}()

func bodyAllowed(status int) bool { return status >= 200 && status != 204 && status != 304 }

// appendHeaderLine writes one header line, dropping CR and LF from the
// value so an application cannot be tricked into splitting the response.
func appendHeaderLine(dst []byte, k, v string) []byte {
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	for i := 0; i < len(v); i++ {
		if ch := v[i]; ch != '\r' && ch != '\n' {
			dst = append(dst, ch)
		}
	}
	return append(dst, "\r\n"...)
}

// appendErrorResponse builds the short answer to a request the server
// rejects; the connection always closes after it.
func appendErrorResponse(dst []byte, srv *Server, status int) []byte {
	text := http.StatusText(status)
	body := strconv.Itoa(status) + " " + text + "\n"
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, "\r\nServer: "...)
	dst = append(dst, srv.opts.ServerName...)
	dst = append(dst, "\r\nDate: "...)
	dst = srv.appendDate(dst)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nConnection: close\r\n\r\n"...)
	return append(dst, body...)
}

// appendDate appends the current time in HTTP date form. The text is
// formatted once a second per server and then read without a clock call:
// a time.Now per response was a measurable share of a small pipelined
// answer. The first response of a second formats it and arms a timer that
// expires it at the next second boundary; an idle server keeps no timer
// running. A timer that fires late (a loaded machine) leaves the previous
// second's text in use for that long, within a Date header's one-second
// resolution.
func (s *Server) appendDate(dst []byte) []byte {
	d := s.date.Load()
	if d == nil {
		d = s.refreshDate()
	}
	return append(dst, d.text...)
}

// refreshDate formats the current second's date; the goroutine whose text
// is stored arms the expiry, so one timer at most is pending.
func (s *Server) refreshDate() *cachedDate {
	now := time.Now()
	d := &cachedDate{text: now.UTC().AppendFormat(nil, http.TimeFormat)}
	if s.date.CompareAndSwap(nil, d) {
		next := now.Truncate(time.Second).Add(time.Second).Sub(now)
		s.dateTimer.Reset(next)
	}
	return d
}

type cachedDate struct {
	text []byte
}
