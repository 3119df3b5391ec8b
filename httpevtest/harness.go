package httpevtest

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/httpev/httpev"
)

// Harness serves one request callback for a test. Requests reach it
// through httpev.HTTPHandler, in memory: each Do costs about 20 µs plus
// the callback, and opens no socket, so tests can run in parallel freely.
type Harness struct {
	t       testing.TB
	srv     *httpev.Server
	handler *httpev.HTTPHandler
	tmp     string // the temp directory, checked for leftovers when the harness owns it
	owned   bool
}

// Option configures a Harness.
type Option func(*config)

type config struct {
	opts   httpev.Options
	listen httpev.ListenOptions
}

// WithOptions sets the Server's options. TmpPath defaults to a directory of
// the test's own, which must be empty again when the test ends; Logger
// defaults to the test's output.
func WithOptions(o httpev.Options) Option { return func(c *config) { c.opts = o } }

// WithListenOptions sets the listener's options: Threading, Timeout and
// the OnFile*/OnError callbacks, as for Server.Listen.
func WithListenOptions(o httpev.ListenOptions) Option {
	return func(c *config) { c.listen = o }
}

// New starts a Harness serving callback, closed when the test ends. When
// it created the temp directory itself, a file left in it (an upload the
// server failed to remove) fails the test.
//
// t may be nil, as in an Example: New then panics where it would fail the
// test, and the caller must Close the Harness.
func New(t testing.TB, callback func(*httpev.CGI), opts ...Option) *Harness {
	if t != nil {
		t.Helper()
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	h := &Harness{t: t}
	if cfg.opts.TmpPath == "" {
		dir, err := os.MkdirTemp("", "httpevtest-")
		h.check(err)
		cfg.opts.TmpPath, h.owned = dir, true
	}
	h.tmp = cfg.opts.TmpPath
	if cfg.opts.Logger == nil {
		var w io.Writer = io.Discard
		if t != nil {
			w = t.Output()
		}
		cfg.opts.Logger = slog.New(slog.NewTextHandler(w, nil))
	}
	srv, err := httpev.New(cfg.opts)
	h.check(err)
	h.srv = srv
	h.handler, err = httpev.NewHTTPHandler(srv, capturing(callback), cfg.listen)
	h.check(err)
	if t != nil {
		t.Cleanup(h.close)
	}
	return h
}

// Server returns the harness's server, for what a test wants to inspect or
// drive directly (TmpPath, Shutdown).
func (h *Harness) Server() *httpev.Server { return h.srv }

// Handler returns the callback as an http.Handler, to put behind
// httptest.NewServer when a test needs a real client.
func (h *Harness) Handler() http.Handler { return h.handler }

// Close shuts the server down and removes the temp directory New made;
// with a nil t it reports leftover files as an error.
func (h *Harness) Close() error {
	err := h.srv.Close()
	if !h.owned {
		return err
	}
	left, _ := os.ReadDir(h.tmp)
	_ = os.RemoveAll(h.tmp)
	h.owned = false
	if len(left) > 0 && err == nil {
		names := make([]string, len(left))
		for i, e := range left {
			names[i] = e.Name()
		}
		err = fmt.Errorf("httpevtest: temp files left behind: %s", strings.Join(names, ", "))
	}
	return err
}

func (h *Harness) close() {
	if err := h.Close(); err != nil {
		h.t.Error(err)
	}
}

// Do runs the callback on req and returns what it answered. req may be a
// server request (httptest.NewRequest) or a client one (http.NewRequest,
// NewForm, NewMultipart); its RemoteAddr, defaulting to 192.0.2.1:1234, is
// the client address the callback sees, and a non-nil TLS makes HTTPS
// "on". Do returns once the response is complete, also for callbacks that
// Keep the request and answer later.
func (h *Harness) Do(req *http.Request) *Result {
	if h.t != nil {
		h.t.Helper()
	}
	if req.RemoteAddr == "" {
		req.RemoteAddr = "192.0.2.1:1234"
	}
	cp := &capture{}
	req = req.WithContext(withCapture(req.Context(), cp))
	rec := httptest.NewRecorder()
	res := &Result{}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					panic(v)
				}
				res.Dropped = true
			}
		}()
		h.handler.ServeHTTP(rec, req)
	}()
	if req.Body != nil {
		_ = req.Body.Close() // as net/http does after a handler: ends a streaming writer
	}
	resp := rec.Result()
	res.Status, res.Header, res.Body = resp.StatusCode, resp.Header, rec.Body.Bytes()
	if res.Dropped && !rec.Flushed && rec.Body.Len() == 0 {
		res.Status = 0
	}
	res.Files = cp.result()
	return res
}

// Get is Do for a GET of target, a path with an optional query.
func (h *Harness) Get(target string) *Result {
	if h.t != nil {
		h.t.Helper()
	}
	return h.Do(httptest.NewRequest(http.MethodGet, target, nil))
}

func (h *Harness) check(err error) {
	if err == nil {
		return
	}
	if h.t == nil {
		panic(err)
	}
	h.t.Helper()
	h.t.Fatal(err)
}
