package httpev_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev"
)

// showRequest is what a handler sees of a request, for comparing
// ServeHandler with net/http's own server on the same bytes.
func showRequest(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s host=%q\n", r.Method, r.URL, r.Host)
	u := r.URL
	fmt.Fprintf(&b, "uri=%q proto=%s %d.%d path=%q rawpath=%q query=%q force=%v opaque=%q\n",
		r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, u.Path, u.RawPath, u.RawQuery, u.ForceQuery, u.Opaque)
	ip, port, err := net.SplitHostPort(r.RemoteAddr) // the port differs from server to server
	fmt.Fprintf(&b, "remote=%s port-ok=%v err=%v\n", ip, port != "" && port != "0", err)
	if r.URL.RawQuery == "" { // with a query ServeHandler fills Form first (documented)
		fmt.Fprintf(&b, "form-nil=%v/%v\n", r.Form == nil, r.PostForm == nil)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "FormValue(a)=%q\n", r.FormValue("a"))
	return b.String()
}

// sendRaw dials addr and sends raw, with a 10 s deadline on the
// connection for what the caller reads. The caller closes it; so does
// the test's end, if a check fails first.
func sendRaw(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(nc, raw)
	require.NoError(t, err)
	return nc
}

// rawExchange sends raw request bytes and returns the response body.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	nc := sendRaw(t, addr, raw)
	defer nc.Close()
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode, string(b))
	return string(b)
}

// TestServeHandlerRequestMatchesNetHTTP: header names in any case, repeated
// fields, Host out of the map, and Form left nil without a query, as
// net/http's server gives them to the same handler.
func TestServeHandlerRequestMatchesNetHTTP(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		t.Run(host, func(t *testing.T) { requestMatchesNetHTTP(t, host) })
	}
}

func requestMatchesNetHTTP(t *testing.T, host string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, showRequest(r)) })
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("no %s loopback: %v", host, err)
	}
	ref := httptest.NewUnstartedServer(h)
	ref.Listener.Close()
	ref.Listener = ln
	ref.Start()
	defer ref.Close()
	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Close()
	l, err := srv.Listen(host+":0", httpev.ServeHandler(h), httpev.ListenOptions{Threading: true})
	require.NoError(t, err)

	for _, raw := range []string{
		"GET /plain HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /q?a=1&b=2&a=3 HTTP/1.1\r\nhost: example.com\r\nx-custom: one\r\nUser-Agent: ua\r\nX-CUSTOM: two\r\n" +
			"accept: */*\r\nSec-Fetch-Mode: navigate\r\nx-empty:\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n",
		"GET /q? HTTP/1.1\r\nHost: h\r\nX-Real-Ip: 10.0.0.1\r\nx_under: skipped-or-kept\r\n\r\n",
		"GET /a%20b/c%2Fd?x=%41 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /it's(ok)*!/x;p=1:@$&+,=~_-.?q=a?b HTTP/1.0\r\nHost: h\r\n\r\n",
		"GET //double/slash?? HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /no-host HTTP/1.0\r\n\r\n",
	} {
		want := rawExchange(t, ref.Listener.Addr().String(), raw)
		got := rawExchange(t, l.Addr().String(), raw)
		assert.Equal(t, want, got, "%q", raw)
	}
}

// TestServeHandlerContextClientGone: r.Context() is built only when asked,
// and then ends when the client leaves, directly and through a context
// derived with a timeout.
func TestServeHandlerContextClientGone(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		type seen struct {
			err, derived error
			cgi          bool
			local        any
		}
		got := make(chan seen, 1)
		wait := func(r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			s := seen{cgi: httpev.RequestCGI(r) != nil, local: r.Context().Value(http.LocalAddrContextKey)}
			<-ctx.Done()
			s.err, s.derived = r.Context().Err(), ctx.Err()
			got <- s
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !threading { // the loop goroutine must not wait
				c := httpev.RequestCGI(r)
				c.Keep()
				go func() {
					defer c.Close()
					wait(r)
				}()
				return
			}
			wait(r)
		})
		srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer srv.Close()
		l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(h), httpev.ListenOptions{Threading: threading})
		require.NoError(t, err)
		nc, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		_, err = io.WriteString(nc, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond) // the handler is waiting
		nc.Close()
		select {
		case s := <-got:
			assert.ErrorIs(t, s.err, context.Canceled)
			assert.ErrorIs(t, s.derived, context.Canceled, "a derived context ends with it, not at its timeout")
			assert.True(t, s.cgi, "RequestCGI")
			assert.Equal(t, l.Addr().String(), fmt.Sprint(s.local), "LocalAddrContextKey")
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's context did not end within 10 s of the client leaving")
		}
	})
}

// headerMutations are handlers that change their header map after the head
// is decided, which net/http ignores: the answer must carry the header as
// WriteHeader (or the first write) saw it, whether the map is changed
// through a kept reference, in place, by middleware after the handler
// returned, after a flush or past the flush threshold.
func headerMutations() *http.ServeMux {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, s string) { _, _ = io.WriteString(w, s) }
	mux.HandleFunc("/late-set", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("A", "1")
		h.Set("Content-Type", "text/plain")
		write(w, "x")
		h.Set("B", "2")
		h.Set("A", "changed")
	})
	mux.HandleFunc("/in-place", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain") // not sniffed: the map itself goes to the engine
		h["A"] = []string{"1", "2"}
		write(w, "x")
		h["A"][1] = "changed"
	})
	mux.HandleFunc("/explicit", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain") // not sniffed: the map itself goes to the engine
		h.Set("A", "1")
		w.WriteHeader(http.StatusCreated)
		h.Set("A", "2")
		h.Set("B", "3")
		write(w, "y")
	})
	mux.HandleFunc("/delete", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("A", "1")
		w.Header().Set("Content-Type", "text/plain")
		write(w, "x")
		w.Header().Del("A")
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain") // not sniffed: the map itself goes to the engine
		h.Set("A", "1")
		write(w, "x")
		w.(http.Flusher).Flush()
		h.Set("B", "2")
		write(w, "y")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain") // not sniffed: the map itself goes to the engine
		h.Set("A", "1")
		write(w, strings.Repeat("b", 60<<10)) // past the flush threshold
		h.Set("B", "2")
		write(w, "y")
	})
	mux.HandleFunc("/many", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain") // not sniffed: the map itself goes to the engine
		for i := range 8 {
			h.Set(fmt.Sprintf("X-%d", i), "v")
		}
		write(w, "x")
		h.Set("X-1", "changed")
		h.Set("B", "2")
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("A", "1")
		write(w, "<html><body>x</body></html>")
		h.Set("B", "2")
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain") // not sniffed: the map itself goes to the engine
		h.Set("A", "1")
		write(w, "x")
		h.Set(http.TrailerPrefix+"T", "v")
	})
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", "5") // sent as it is, not chunked
		write(w, "hello")
	})
	mux.HandleFunc("/kept", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("A", "1")
		h.Set("Content-Type", "text/plain")
		if c := httpev.RequestCGI(r); c != nil { // httpev: the answer is written after the handler returned
			c.Async(func() { // the head was decided when the handler returned
				h.Set("B", "2")
				write(w, "x")
			})
			return
		}
		write(w, "x")
		h.Set("B", "2")
	})
	mux.HandleFunc("/nothing", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("A", "1")
		h.Set("Content-Type", "text/plain") // an empty answer gets text/html otherwise (documented)
		w.WriteHeader(http.StatusAccepted)
		h.Set("A", "2")
	})
	return mux
}

// TestServeHandlerHeaderFrozen: changes to the header map after
// WriteHeader or the first write have no effect, as in net/http, whatever
// way the handler makes them.
func TestServeHandlerHeaderFrozen(t *testing.T) {
	after := func(next http.Handler) http.Handler { // middleware that sets a field too late
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.URL.Path != "/length" && r.URL.Path != "/kept" { // they check the head without a late change
				w.Header().Set("X-After", "late")
			}
		})
	}
	h := after(headerMutations())
	ref := httptest.NewServer(h)
	defer ref.Close()
	threadingModes(t, func(t *testing.T, threading bool) {
		srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer srv.Close()
		l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(h), httpev.ListenOptions{Threading: threading})
		require.NoError(t, err)
		for _, path := range []string{"/late-set", "/in-place", "/explicit", "/delete", "/flush", "/big", "/many", "/sniff", "/trailer", "/length", "/kept", "/nothing"} {
			want, wantBody := fetch(t, mustRequest("GET", ref.URL+path, nil))
			got, gotBody := fetch(t, mustRequest("GET", "http://"+l.Addr().String()+path, nil))
			for _, r := range []*http.Response{want, got} { // the servers' own fields
				for _, k := range []string{"Date", "Server", "Content-Length", "Connection"} {
					r.Header.Del(k)
				}
			}
			if path == "/length" { // elsewhere the framing is each server's choice
				assert.Equal(t, int64(5), got.ContentLength, path)
				assert.Empty(t, got.TransferEncoding, path)
				assert.Equal(t, 1, strings.Count(rawHead(t, l.Addr().String(), path), "\r\nContent-Length:"),
					"the handler's Content-Length is the only one")
			}
			assert.Equal(t, want.StatusCode, got.StatusCode, path)
			assert.Equal(t, want.Header, got.Header, path)
			assert.Equal(t, wantBody, gotBody, path)
		}
	})
}

// rawHead returns the head of the response to a GET of path, as sent.
func rawHead(t *testing.T, addr, path string) string {
	t.Helper()
	nc := sendRaw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	defer nc.Close()
	var head []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(head), "\r\n\r\n") {
		n, err := nc.Read(buf)
		head = append(head, buf[:n]...)
		require.NoError(t, err)
	}
	return string(head)
}
