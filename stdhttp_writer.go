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
type responseWriter struct {
	c         *CGI
	header    http.Header // what the handler edits
	sent      http.Header // the snapshot WriteHeader took
	status    int
	committed bool
	hijacked  bool
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
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	h := w.sent
	if _, ok := h["Content-Type"]; !ok && len(first)+len(firstString) > 0 && h.Get("Transfer-Encoding") == "" {
		if first == nil {
			first = []byte(firstString[:min(len(firstString), 512)]) // all DetectContentType reads
		}
		h.Set("Content-Type", http.DetectContentType(first))
	}
	w.c.headerOwned(w.status, h)
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
	if len(h) == 0 {
		h = nil // the defaults, as Header(nil)
	}
	q.out.mu.Lock()
	defer q.out.mu.Unlock()
	r := &q.resp
	if r.sent {
		return
	}
	r.setStatus(status, "")
	r.header, r.ct, r.userLength = h, nil, userLength
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
	}
	nc, err := w.c.GiveUpHandle()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}

// finish commits a response the handler wrote nothing to.
func (w *responseWriter) finish() {
	if !w.hijacked {
		w.commit(nil, "")
	}
}
