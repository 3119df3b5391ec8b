package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/httpev/httpev"
)

// A page opens one progress stream, GET /progress?id=<session>, and sends
// each upload as POST /files?id=<session>&key=<upload>. The server's
// OnFileWrite publishes bytes-on-disk under the session, and the stream
// pushes them to the page as Server-Sent Events. One stream per page rather
// than per upload because browsers allow six HTTP/1.1 connections per host.

// progressEvent is one file's progress as the server sees it: bytes on disk,
// not bytes sent, so the page can show both.
type progressEvent struct {
	Key   string `json:"key"`
	Index int    `json:"index"` // the file's position in its request
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	Done  bool   `json:"done,omitempty"`
}

// hub routes progress from the upload callbacks to the streams of the page
// that sent them. Publishing only records the latest state and wakes the
// stream, so OnFileWrite never waits on a client, whatever its speed; a
// slow client just gets fewer, coalesced events.
type hub struct {
	mu       sync.Mutex
	sessions map[string]*session
	draining bool
}

// session is one page: its open streams and its uploads in flight. It
// exists while it has either.
type session struct {
	uploads int
	streams map[*stream]struct{}
}

// stream is one open progress response, fed by the hub and drained by
// its own goroutine.
type stream struct {
	wake chan struct{} // capacity 1: a pending wake-up is never lost, never doubled

	mu      sync.Mutex
	pending map[eventKey]progressEvent
	order   []eventKey
	files   bool // the file list changed
}

type eventKey struct {
	key   string
	index int
}

func newHub() *hub { return &hub{sessions: map[string]*session{}} }

// sessionLocked returns session id, creating it: whichever of a stream or
// an upload comes first.
func (h *hub) sessionLocked(id string) *session {
	s := h.sessions[id]
	if s == nil {
		s = &session{streams: map[*stream]struct{}{}}
		h.sessions[id] = s
	}
	return s
}

// gcLocked frees a session with neither streams nor uploads, so ids from
// pages long closed do not accumulate.
func (h *hub) gcLocked(id string, s *session) {
	if s.uploads == 0 && len(s.streams) == 0 {
		delete(h.sessions, id)
	}
}

// beginUpload and endUpload bracket a request sending files for session id,
// so that a graceful shutdown keeps the page's stream open until its last
// upload is answered.
func (h *hub) beginUpload(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessionLocked(id).uploads++
}

func (h *hub) endUpload(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil {
		return
	}
	s.uploads--
	if h.draining && s.uploads == 0 {
		for st := range s.streams {
			st.signal()
		}
	}
	h.gcLocked(id, s)
}

// subscribe and unsubscribe bracket one progress response. A page may hold
// several (a reconnecting EventSource overlaps its old one briefly).
func (h *hub) subscribe(id string) *stream {
	st := &stream{wake: make(chan struct{}, 1), pending: map[eventKey]progressEvent{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessionLocked(id).streams[st] = struct{}{}
	return st
}

func (h *hub) unsubscribe(id string, st *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[id]; s != nil {
		delete(s.streams, st)
		h.gcLocked(id, s)
	}
}

// publish records ev for every stream of session id. A session nobody
// watches (curl uploads with an id) costs one map lookup.
func (h *hub) publish(id string, ev progressEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil {
		return
	}
	for st := range s.streams {
		st.push(ev)
	}
}

// filesChanged tells every page to reload the file list, so two open pages
// see each other's uploads and deletes.
func (h *hub) filesChanged() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		for st := range s.streams {
			st.mu.Lock()
			st.files = true
			st.mu.Unlock()
			st.signal()
		}
	}
}

// drain marks the server as shutting down and wakes every stream so that
// those with nothing in flight end now.
func (h *hub) drain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = true
	for _, s := range h.sessions {
		for st := range s.streams {
			st.signal()
		}
	}
}

// ending reports whether session id's streams should end: the server is
// shutting down and the page has no upload in flight.
func (h *hub) ending(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	return h.draining && (s == nil || s.uploads == 0)
}

// signal wakes the stream's goroutine without ever blocking the caller,
// which may be an upload callback on the loop goroutine.
func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// push keeps only the latest event per file: what a page wants is where
// the upload is now, not every step it took.
func (st *stream) push(ev progressEvent) {
	k := eventKey{ev.Key, ev.Index}
	st.mu.Lock()
	if _, ok := st.pending[k]; !ok {
		st.order = append(st.order, k)
	}
	st.pending[k] = ev
	st.mu.Unlock()
	st.signal()
}

// take returns the events gathered since the last call, in first-seen
// order, already framed as SSE.
func (st *stream) take() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var b strings.Builder
	for _, k := range st.order {
		data, _ := json.Marshal(st.pending[k])
		b.WriteString("event: progress\ndata: ")
		b.Write(data)
		b.WriteString("\n\n")
	}
	clear(st.pending)
	st.order = st.order[:0]
	if st.files {
		st.files = false
		b.WriteString("event: files\ndata: {}\n\n")
	}
	return b.String()
}

// pingEvery keeps idle streams alive through proxies and lets the server
// notice a vanished page even when no progress flows.
const pingEvery = 15 * time.Second

// progress answers GET /progress?id=<session> with a stream of Server-Sent
// Events that lasts until the page goes away or the server shuts down.
func (a *app) progress(c *httpev.CGI) {
	id := sessionID(c.Param("id"))
	if id == "" {
		writeError(c, http.StatusBadRequest, "id must be 1-64 letters, digits, - or _")
		return
	}
	st := a.hub.subscribe(id)
	c.Header(http.Header{
		"Content-Type":      {"text/event-stream; charset=utf-8"},
		"Cache-Control":     {"no-store"},
		"X-Accel-Buffering": {"no"}, // nginx in front must not sit on events
	})
	// The head goes out now so the page's EventSource opens, and knows the
	// stream is registered, before it starts uploading.
	_, _ = c.WriteString("retry: 2000\n: connected\n\n")
	c.Flush()
	a.offLoop(c, func() { a.stream(c, id, st) })
}

// stream writes the events of one progress response, one batch at a time:
// the next batch waits until the previous one is on the socket (FlushWait),
// so a slow page holds at most one batch in memory.
func (a *app) stream(c *httpev.CGI, id string, st *stream) {
	defer a.hub.unsubscribe(id, st)
	ctx := c.Context()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		// ending before take: every upload of the session announced its
		// files (filesChanged) before its request ended, so once ending is
		// true the take below has them all. The other order lost the last
		// "files" event when an upload ended between the two calls.
		ending := a.hub.ending(id)
		out := st.take()
		if ending {
			_, _ = c.WriteString(out + "event: bye\ndata: {}\n\n")
			return // offLoop closes the response
		}
		if out != "" {
			if _, err := c.WriteString(out); err != nil {
				return
			}
			if awaitFlush(ctx, startFlush(c)) != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-st.wake:
		case <-ping.C:
			if _, err := c.WriteString(": ping\n\n"); err != nil {
				return
			}
			c.Flush()
		}
	}
}

// sessionID and progressKey accept only short tokens, since they are
// echoed into events and used as map keys from untrusted input.
func sessionID(s string) string {
	if len(s) == 0 || len(s) > 64 || strings.TrimLeft(s, tokenChars) != "" {
		return ""
	}
	return s
}

func progressKey(s string) string {
	if len(s) > 64 || strings.TrimLeft(s, tokenChars) != "" {
		return ""
	}
	return s
}

const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
