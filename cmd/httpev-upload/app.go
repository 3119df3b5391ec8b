package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpev/httpev"
)

// app is the state every request shares: the saved files, the hashes of
// files still arriving, and the progress streams of open pages. Each part
// locks for itself because with -threading requests run in parallel; with
// it off the locks are never contended and cost a few tens of nanoseconds.
type app struct {
	log   *slog.Logger
	store *store
	recv  *receiver
	hub   *hub
	reg   *prometheus.Registry // what /metrics serves (metrics.go); set by serveStats
	bg    sync.WaitGroup       // offLoop goroutines, waited for before run returns
}

// newApp opens the upload directory; the receiver and the streams share one
// hub, since progress flows from the first to the second.
func newApp(dir string, log *slog.Logger) (*app, error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	h := newHub()
	return &app{log: log, store: st, recv: newReceiver(h), hub: h}, nil
}

// listenOptions wires the receiver into the library's upload callbacks.
// The same options serve both threading modes: the callbacks are written to
// be quick (no disk, no network) and to lock what they share.
func (a *app) listenOptions(threading bool, timeout time.Duration) httpev.ListenOptions {
	return httpev.ListenOptions{
		Threading:      threading,
		Timeout:        timeout,
		OnMultipart:    a.recv.onMultipart,
		OnFileOpen:     a.recv.onFileOpen,
		OnFileWrite:    a.recv.onFileWrite,
		OnFileReceived: a.recv.onFileReceived,
	}
}

// serve is the request callback: a small router, since the app has few
// routes and the library's handler table is not what this example shows.
func (a *app) serve(c *httpev.CGI) {
	path, method := c.Path(), c.Method()
	switch {
	case path == "/echo":
		a.echo(c)
	case path == "/":
		if allow(c, "GET", "HEAD") {
			servePage(c)
		}
	case path == "/files":
		switch method {
		case "GET", "HEAD":
			a.list(c)
		case "POST":
			a.upload(c)
		default:
			allow(c, "GET", "HEAD", "POST")
		}
	case strings.HasPrefix(path, "/files/"):
		switch method {
		case "GET", "HEAD":
			a.download(c)
		case "DELETE":
			a.remove(c)
		default:
			allow(c, "GET", "HEAD", "DELETE")
		}
	case path == "/progress":
		if allow(c, "GET") {
			a.progress(c)
		}
	case path == "/metrics" && a.reg != nil:
		if allow(c, "GET", "HEAD") {
			a.metrics(c)
		}
	default:
		writeError(c, http.StatusNotFound, "no such page")
	}
}

// allow reports whether the request's method is one of methods, answering
// 405 with an Allow header when it is not.
func allow(c *httpev.CGI, methods ...string) bool {
	m := c.Method()
	for _, ok := range methods {
		if m == ok {
			return true
		}
	}
	c.Header(http.Header{"Status": {"405"}, "Allow": {strings.Join(methods, ", ")},
		"Content-Type": {"application/json; charset=utf-8"}})
	writeBody(c, map[string]string{"error": "method " + m + " not allowed"})
	return false
}

// offLoop finishes a request in a goroutine of its own, for work that may
// block: disk IO, reading a request body, waiting for a slow client. With
// -threading off the callback runs on the loop goroutine that every other
// callback shares, so it must return at once; Keep lets it do so and leave
// the answer to f. With -threading on this costs one extra goroutine (about
// a microsecond) and keeps a single code path for both modes.
func (a *app) offLoop(c *httpev.CGI, f func()) {
	c.Keep()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		defer c.Close()
		defer func() {
			if r := recover(); r != nil {
				a.log.Error("request goroutine panicked", "panic", r, "uri", c.Env("REQUEST_URI"))
				c.Drop()
			}
		}()
		f()
	}()
}

// close waits for every offLoop goroutine, so that run
// returns only when nothing of the app is left running, and releases the
// upload directory.
func (a *app) close() {
	a.bg.Wait()
	_ = a.store.root.Close()
}

// drain starts the graceful end: progress streams of pages with no upload
// in flight are closed now, the others once their uploads finish.
func (a *app) drain() { a.hub.drain() }

// writeJSON answers with status and v as JSON. The whole answer is small
// enough to be buffered, so it goes out with a Content-Length.
func writeJSON(c *httpev.CGI, status int, v any) {
	c.Header(http.Header{
		"Status":        {strconv.Itoa(status)},
		"Content-Type":  {"application/json; charset=utf-8"},
		"Cache-Control": {"no-store"},
	})
	writeBody(c, v)
}

// writeBody encodes v indented, for people reading curl output, and without
// HTML escaping, so a query string shows as a&b rather than a\u0026b.
func writeBody(c *httpev.CGI, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		b.Reset()
		b.WriteString(`{"error": "encoding the answer failed"}` + "\n")
	}
	_, _ = c.Write(b.Bytes()) // fails only if the client left, and then nobody reads it
}

// writeError answers with status and a JSON {"error": msg}, the one error
// shape every route uses so the page and scripts parse a single form.
func writeError(c *httpev.CGI, status int, msg string) {
	writeJSON(c, status, map[string]string{"error": msg})
}

// startFlush asks for the response's pending output to be sent and returns
// a channel that reports once it is on the socket. It uses FlushWait's
// callback form, the one that works in both threading modes (the blocking
// form is refused on a Threading-off listener, whose loop must never wait).
func startFlush(c *httpev.CGI) <-chan error {
	done := make(chan error, 1) // the callback may run on the loop: it must not block
	if err := c.FlushWait(func(err error) { done <- err }); err != nil {
		select { // refused: report it, unless the callback already did
		case done <- err:
		default:
		}
	}
	return done
}

// awaitFlush waits for a startFlush, or for the client to leave.
func awaitFlush(ctx context.Context, done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
