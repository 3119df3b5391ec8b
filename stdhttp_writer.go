package httpev

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// responseWriter is the http.ResponseWriter of ServeHandler: the
// handler's status and headers become a CGI.Header call when the first
// byte is written (so the Content-Type can be sniffed from it, as net/http
// does) and its writes go to the CGI's Buffer.
//
// The head that goes out is the header as WriteHeader saw it, as in
// net/http, but without the copy of the map net/http makes (a map, its
// storage and a slice: about a microsecond a request). WriteHeader records
// the fields in snap, inside the writer; the engine is given the handler's
// own map, and before anything can send the head while the handler may
// still change that map (Flush, a write that fills the Buffer past its
// threshold, Hijack), or once the handler returns with a map that no
// longer matches snap, the engine gets a map rebuilt from snap instead
// (private). A header snap cannot hold is copied at once, as net/http
// does. (A handler that flushes through RequestCGI(r) directly and then
// changes its map is not covered: the engine may send the map as it is.)
type responseWriter struct {
	c         *CGI
	header    http.Header // what the handler edits
	sent      http.Header // the map the engine has: header itself while shared, else a copy
	snap      headerSnapshot
	status    int
	committed bool
	hijacked  bool
	snapped   bool // snap holds the header WriteHeader saw; sent is nil until commit
	shared    bool // the engine was given header itself (sent == header)
}

var (
	_ http.Flusher  = (*responseWriter)(nil)
	_ http.Hijacker = (*responseWriter)(nil)
)

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if w.status != 0 || w.hijacked || (code < 200 && code != http.StatusSwitchingProtocols) {
		return // informational responses cannot be sent by the engine
	}
	// 101 is final, as in net/http: Hijack sends it (WebSocket handshakes).
	w.status = code
	if w.snap.take(w.header) {
		w.snapped = true
		return
	}
	w.sent = w.header.Clone()
}

// commit hands status and headers to the CGI before the first output,
// which is first or, from WriteString, firstString (converted only when
// it has to be sniffed).
func (w *responseWriter) commit(first []byte, firstString string) {
	if w.committed {
		return
	}
	w.committed = true
	fresh := w.status == 0 // the snapshot is taken now, not at an earlier WriteHeader
	if fresh {
		w.WriteHeader(http.StatusOK)
	}
	h, fromSnap := w.sent, w.snapped
	if w.snapped {
		h = w.header
		_, typed := h["Content-Type"]
		sniff := !typed && len(first)+len(firstString) > 0
		if sniff || !fresh && !w.snap.matches(h) {
			h = w.snap.header() // changed since WriteHeader, or about to be
		} else {
			w.shared = true
		}
		w.sent, w.snapped = h, false
	}
	if _, ok := h["Content-Type"]; !ok && len(first)+len(firstString) > 0 && h.Get("Transfer-Encoding") == "" {
		if first == nil {
			first = []byte(firstString[:min(len(firstString), 512)]) // all DetectContentType reads
		}
		h.Set("Content-Type", http.DetectContentType(first))
	}
	if fromSnap {
		w.c.setHead(w.status, h, w.snap.length)
		return
	}
	w.c.headerOwned(w.status, h)
}

// unshare gives the engine its own copy of the head before it may send it
// while the handler can still change its map. Once the head is out,
// headerOwned changes nothing.
func (w *responseWriter) unshare() {
	if !w.shared {
		return
	}
	w.shared = false
	w.sent = w.snap.header()
	w.c.setHead(w.status, w.sent, w.snap.length)
}

// settle runs when the handler has returned: the engine keeps the
// handler's map if it is still the header WriteHeader saw, and gets the
// snapshot otherwise, or when a kept request (Keep, Async) lets the
// handler's goroutines go on using the writer.
func (w *responseWriter) settle() {
	if w.shared && !w.c.kept.Load() && w.snap.matches(w.header) {
		w.shared = false
		return
	}
	w.unshare()
}

// headerSnapshot records a small header's fields without a map: up to
// snapKeys names and snapVals values, which covers the headers handlers
// usually set (a type, a length, a cache policy, a cookie or two).
type headerSnapshot struct {
	keys   [snapKeys]string
	vals   [snapVals]string
	ends   [snapKeys]uint8 // keys[i]'s values are vals[ends[i-1]:ends[i]]
	n      uint8
	length bool // a Content-Length field: the engine sends the body as it is
}

const snapKeys, snapVals = 6, 8

// take records h and reports whether it fitted. Headers with fields that
// headerOwned deletes (trailers, Status, empty values) are not taken: they
// are copied, so that the handler's map is never changed.
func (s *headerSnapshot) take(h http.Header) bool {
	if len(h) > snapKeys {
		return false
	}
	n, nv := 0, 0
	s.length = false
	for k, vs := range h {
		if len(vs) == 0 || nv+len(vs) > snapVals || k == "Trailer" ||
			strings.HasPrefix(k, http.TrailerPrefix) || len(k) == 6 && strings.EqualFold(k, "Status") {
			return false
		}
		if len(k) == 14 && strings.EqualFold(k, "Content-Length") {
			s.length = true
		}
		s.keys[n] = k
		nv += copy(s.vals[nv:], vs)
		s.ends[n] = uint8(nv)
		n++
	}
	s.n = uint8(n)
	return true
}

// matches reports whether h holds exactly the recorded fields.
func (s *headerSnapshot) matches(h http.Header) bool {
	if len(h) != int(s.n) {
		return false
	}
	start := uint8(0)
	for i, k := range s.keys[:s.n] {
		want := s.vals[start:s.ends[i]]
		start = s.ends[i]
		got, ok := h[k]
		if !ok || len(got) != len(want) {
			return false
		}
		for j := range want {
			if got[j] != want[j] {
				return false
			}
		}
	}
	return true
}

// header returns a new map of the recorded fields.
func (s *headerSnapshot) header() http.Header {
	h := make(http.Header, s.n)
	if s.n == 0 {
		return h
	}
	vals := make([]string, s.ends[s.n-1])
	copy(vals, s.vals[:])
	start := uint8(0)
	for i, k := range s.keys[:s.n] {
		end := s.ends[i]
		h[k] = vals[start:end:end]
		start = end
	}
	return h
}

// headerOwned is CGI.Header for the writer's snapshot, which nothing else
// holds: the map is taken as it is instead of being copied once more
// (a map and a slice per field, per request). Trailer declarations and
// any Status field are dropped: the status is the handler's WriteHeader.
func (q *CGI) headerOwned(status int, h http.Header) {
	var userLength bool
	for k, vs := range h {
		switch {
		case len(vs) == 0, k == "Trailer", strings.HasPrefix(k, http.TrailerPrefix), strings.EqualFold(k, "Status"):
			delete(h, k)
		case strings.EqualFold(k, "Content-Length"):
			userLength = true
		}
	}
	q.setHead(status, h, userLength)
}

// setHead is headerOwned for a header with nothing to drop (a snapshot's:
// take refuses the fields headerOwned deletes), whose Content-Length is
// known.
func (q *CGI) setHead(status int, h http.Header, userLength bool) {
	var ct *cachedType
	if len(h) == 0 {
		h = nil // the defaults, as Header(nil)
	} else if shared, ok := q.cn.srv.ctypes.typeOnly(h); ok {
		h, ct = shared.h, shared // as CGI.Header (headercache.go)
	}
	q.out.mu.Lock()
	defer q.out.mu.Unlock()
	r := &q.resp
	if r.sent {
		return
	}
	r.setStatus(status, "")
	r.header, r.ct, r.userLength = h, ct, userLength
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	w.commit(p, "")
	return w.write(p, nil)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	w.commit(nil, s)
	return w.write(nil, &s)
}

// write feeds the Buffer in pieces, waiting for the client whenever the
// Buffer is full and the callback may block.
func (w *responseWriter) write(p []byte, s *string) (int, error) {
	const maxPiece = 64 << 10
	piece, total := maxPiece, 0
	if w.shared {
		n := len(p)
		if s != nil {
			n = len(*s)
		}
		if w.c.Buffer().Len()+n >= w.c.out.threshold() {
			w.unshare() // the head may go out while the handler goes on
		}
	}
	for {
		var n int
		var err error
		switch {
		case s != nil && len(*s) > 0:
			n, err = w.c.WriteString((*s)[:min(len(*s), piece)])
			*s = (*s)[n:]
		case s == nil && len(p) > 0:
			n, err = w.c.Write(p[:min(len(p), piece)])
			p = p[n:]
		default:
			return total, nil
		}
		total += n
		if !errors.Is(err, ErrBufferFull) {
			if err != nil {
				return total, err
			}
			continue
		}
		if w.c.Buffer().Len() == 0 {
			piece = max(piece/2, 1) // MaxBuffered is below one piece
			continue
		}
		if ferr := w.c.FlushWait(nil); ferr != nil {
			if errors.Is(ferr, ErrWouldBlock) {
				return total, err // the loop goroutine must not wait
			}
			return total, ferr
		}
	}
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is the Flush that http.ResponseController calls: it reports
// a response that can no longer be sent.
func (w *responseWriter) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	w.commit(nil, "")
	w.unshare()
	w.c.Flush()
	_, err := w.c.Write(nil) // the Buffer's sticky error, if any
	return err
}

// EnableFullDuplex is what http.ResponseController calls; the engine
// always lets a callback read the body while its output goes out.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// Hijack implements http.Hijacker with CGI.GiveUpHandle.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.status != 0 {
		w.commit(nil, "") // a status set before Hijack goes out first, as net/http's does
		w.unshare()
	}
	nc, err := w.c.GiveUpHandle()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}

// finish commits a response the handler wrote nothing to, and settles
// which map the engine sends.
func (w *responseWriter) finish() {
	if !w.hijacked {
		w.commit(nil, "")
		w.settle()
	}
}
