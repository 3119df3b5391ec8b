package httpev

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/httpev/httpev/internal/form"
)

// responseHead is what Header and SetCookies recorded; it is turned into
// bytes by the connection goroutine when the first output is sent, because
// only then is it known whether a Content-Length can be given.
type responseHead struct {
	header     http.Header
	ct         *cachedType // header is ct.h, shared (headercache.go)
	extra      *headExtra  // nil until a reason phrase or a cookie is set
	status     int32       // code() reads it: 32 bits pack with the flags below
	sent       bool
	userLength bool // the application set Content-Length itself
	abort      bool // cut the response: a panic after the head went out
}

// headExtra is what few responses set, kept out of the request object
// (every byte of which is paid on every request: see bufferConfig).
type headExtra struct {
	reason  string
	cookies []string
}

// setStatus sets the status and its reason phrase ("" for the standard one).
func (r *responseHead) setStatus(code int, reason string) {
	r.status = int32(code)
	switch {
	case reason != "":
		r.more().reason = reason
	case r.extra != nil:
		r.extra.reason = ""
	}
}

// code is the response status.
func (r *responseHead) code() int { return int(r.status) }

func (r *responseHead) more() *headExtra {
	if r.extra == nil {
		r.extra = new(headExtra)
	}
	return r.extra
}

// Header sets the response status and headers, the original's header().
// With h nil the response is 200 with Content-Type text/html. A "Status"
// entry sets the status as in a CGI script ("404" or "404 Not Found");
// Content-Type replaces the default (an empty value sends none); every other entry is sent as given,
// along with pending cookies. A Content-Length entry makes the server send
// the body as is, without chunking. Calling Header is optional: a callback
// that never calls it still answers 200 text/html. Calls after the head has
// been sent change nothing.
func (q *CGI) Header(h http.Header) {
	q.out.mu.Lock()
	defer q.out.mu.Unlock()
	r := &q.resp
	if r.sent {
		return
	}
	if len(h) == 0 {
		r.header, r.ct = nil, nil // the defaults, with no map to allocate
		return
	}
	if shared, ok := q.cn.srv.ctypes.typeOnly(h); ok {
		r.header, r.ct = shared.h, shared
		return
	}
	r.ct = nil
	r.header = make(http.Header, len(h))
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		switch {
		case strings.EqualFold(k, "Status"):
			r.setStatus(parseStatus(vs[0]))
		case strings.EqualFold(k, "Content-Length"):
			r.userLength = true
			fallthrough
		default:
			r.header[k] = append([]string(nil), vs...)
		}
	}
}

// SetStatus sets the response status code without touching the headers.
func (q *CGI) SetStatus(code int) {
	q.out.mu.Lock()
	defer q.out.mu.Unlock()
	if !q.resp.sent {
		q.resp.setStatus(code, "")
	}
}

func parseStatus(s string) (int, string) {
	s = strings.TrimSpace(s)
	code, reason, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || n > 999 {
		return 500, ""
	}
	return n, strings.TrimSpace(reason)
}

// SetCookies queues Set-Cookie headers for the response, the original's
// set_cookies(): each value is percent-encoded, with path=/. A positive
// lifetime makes persistent cookies, zero session cookies, a negative one
// deletes them. It must be called before the head is sent.
func (q *CGI) SetCookies(values map[string]string, lifetime time.Duration) error {
	now := time.Now()
	lines := make([]string, 0, len(values))
	for name, v := range values {
		line, err := form.FormatSetCookie(name, v, lifetime, now)
		if err != nil {
			return err
		}
		lines = append(lines, line)
	}
	q.out.mu.Lock()
	defer q.out.mu.Unlock()
	if q.resp.sent {
		return fmt.Errorf("httpev: SetCookies after the response head was sent")
	}
	x := q.resp.more()
	x.cookies = append(x.cookies, lines...)
	return nil
}

// Write appends to the response body; see Buffer.Write. CGI is an
// io.Writer so fmt.Fprintf(c, ...) and any encoder write to the client.
func (q *CGI) Write(p []byte) (int, error) { return q.out.Write(p) }

// WriteString appends a string to the response body.
func (q *CGI) WriteString(s string) (int, error) { return q.out.WriteString(s) }

// Print writes its operands like fmt.Print, the Go form of print.
func (q *CGI) Print(a ...any) (int, error) { return fmt.Fprint(&q.out, a...) }

// Printf writes like fmt.Printf.
func (q *CGI) Printf(format string, a ...any) (int, error) {
	return fmt.Fprintf(&q.out, format, a...)
}

// Buffer returns the request's output buffer.
func (q *CGI) Buffer() *Buffer { return &q.out }

// Flush sends the pending output now; see Buffer.Flush.
func (q *CGI) Flush() { q.out.Flush() }

// FlushWait sends the pending output and reports when it is written; see
// Buffer.FlushWait.
func (q *CGI) FlushWait(done func(err error)) error { return q.out.FlushWait(done) }

// Conn returns the client connection, for its addresses or TLS state.
// Reading or writing it directly corrupts the exchange; use GiveUpHandle to
// take the socket over.
func (q *CGI) Conn() net.Conn { return q.cn.nc }

// attachment is a writer variable bound to this request by Attach.
type attachment struct {
	ptr  *io.Writer
	old  io.Writer
	lock *sync.Mutex
}

// Attach points the writer variable *w at this request until the callback
// returns, then restores its old value: the Go form of
// attach(local *STDOUT), so code that prints to a package-level writer
// answers the current request. With Threading on, requests that attach the
// same variable take turns (Attach waits for the variable), so it stays
// race-free; with Threading off callbacks never overlap anyway.
func (q *CGI) Attach(w *io.Writer) {
	lock := q.cn.srv.attachLock(w)
	lock.Lock()
	r := q.rareMade()
	r.attached = append(r.attached, attachment{ptr: w, old: *w, lock: lock})
	*w = q
}

// detachAll restores attached variables, newest first.
func (q *CGI) detachAll() {
	if q.rare == nil {
		return
	}
	l := q.rare.attached
	for i := len(l) - 1; i >= 0; i-- {
		a := l[i]
		*a.ptr = a.old
		a.lock.Unlock()
	}
	q.rare.attached = nil
}

// internalError turns the response into a 500 if nothing was sent yet, or
// marks it to be cut otherwise.
func (q *CGI) internalError() {
	q.out.mu.Lock()
	defer q.out.mu.Unlock()
	if q.resp.sent {
		q.resp.abort = true
		return
	}
	// Closing, as for every error status the engine writes itself: the
	// callback may have left its body half read (SECURITY.md).
	q.resp = responseHead{status: 500, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Connection": {"close"}}}
	q.out.data = append(q.out.data[:0], "500 Internal Server Error\n"...)
	q.out.queued = int64(len(q.out.data))
}
