package httpev_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev"
)

// threadingModes runs a test with callbacks on the loop goroutine and in
// goroutines of their own.
func threadingModes(t *testing.T, f func(t *testing.T, threading bool)) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) { f(t, threading) })
	}
}

// newBridge mounts cb as an HTTPHandler under /app/ of a real net/http
// server and returns the server's URL.
func newBridge(t *testing.T, opts httpev.Options, lo httpev.ListenOptions, cb func(*httpev.CGI)) (string, *httpev.HTTPHandler) {
	t.Helper()
	if opts.TmpPath == "" {
		opts.TmpPath = t.TempDir()
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	srv, err := httpev.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	h, err := httpev.NewHTTPHandler(srv, cb, lo)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/app/", http.StripPrefix("/app", h))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL + "/app", h
}

func fetch(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// describe answers with what the CGI parsed, one line per fact.
func describe(c *httpev.CGI) {
	c.Header(http.Header{"Status": {"201"}, "Content-Type": {"text/plain"}, "X-App": {"yes"}})
	for _, n := range []string{"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "QUERY_STRING",
		"SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "SERVER_PORT", "HTTPS", "HTTP_X_TEST", "CONTENT_TYPE"} {
		c.Printf("%s=%s\n", n, c.Env(n))
	}
	c.Printf("name=%q\n", c.Params("name"))
	c.Printf("title=%q\n", c.Post("title"))
	c.Printf("cookie=%s\n", c.Cookie("sid"))
	body, _ := io.ReadAll(c.Body())
	c.Printf("body=%s\n", body)
}

func TestHTTPHandlerRequest(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		base, _ := newBridge(t, httpev.Options{}, httpev.ListenOptions{Threading: threading}, describe)

		var clientPort string
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_, clientPort, _ = net.SplitHostPort(nc.LocalAddr().String())
			}
			return nc, err
		}}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", base+"/x/y?name=a&name=%C3%A9", nil)
		req.Header.Set("X-Test", "t1")
		req.Header.Set("Connection", "close, X-Secret")
		req.Header.Set("X-Secret", "hop-by-hop by declaration")
		req.AddCookie(&http.Cookie{Name: "sid", Value: "s1"})
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)

		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, "yes", resp.Header.Get("X-App"))
		assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://")[:strings.Index(strings.TrimPrefix(base, "http://"), "/")])
		for _, want := range []string{
			"REQUEST_METHOD=GET\n", "REQUEST_URI=/x/y?name=a&name=%C3%A9\n", "SCRIPT_NAME=/x/y\n",
			"QUERY_STRING=name=a&name=%C3%A9\n", "SERVER_PROTOCOL=HTTP/1.1\n",
			"REMOTE_ADDR=127.0.0.1\n", "REMOTE_PORT=" + clientPort + "\n", "SERVER_PORT=" + port + "\n",
			"HTTPS=\n", "HTTP_X_TEST=t1\n", `name=["a" "é"]` + "\n", "cookie=s1\n",
		} {
			assert.Contains(t, body, want)
		}
		assert.NotContains(t, body, "hop-by-hop")

		form := url.Values{"title": {"Hello, world"}, "name": {"posted"}}
		req, _ = http.NewRequest("POST", base+"/form?name=q", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, body = fetch(t, req)
		assert.Contains(t, body, "REQUEST_METHOD=POST\n")
		assert.Contains(t, body, `title=["Hello, world"]`)
		assert.Contains(t, body, `name=["q" "posted"]`)

		// A body that is not a form reaches the callback as a stream,
		// here with chunked coding (unknown length).
		pr, pw := io.Pipe()
		go func() { pw.Write([]byte("raw ")); pw.Write([]byte("bytes")); pw.Close() }()
		req, _ = http.NewRequest("PUT", base+"/raw", pr)
		_, body = fetch(t, req)
		assert.Contains(t, body, "body=raw bytes\n")

		req, _ = http.NewRequest("HEAD", base+"/x", nil)
		resp, body = fetch(t, req)
		assert.Equal(t, 201, resp.StatusCode)
		assert.Empty(t, body)
		assert.NotEmpty(t, resp.Header.Get("Content-Length"), "HEAD keeps the length GET would have")
	})
}

// TestHTTPHandlerHTTP2 serves the callback over HTTP/2 and TLS, which net/http
// terminates.
func TestHTTPHandlerHTTP2(t *testing.T) {
	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Close()
	h, err := httpev.NewHTTPHandler(srv, func(c *httpev.CGI) {
		c.Printf("proto=%s https=%s real=%s\n", c.Env("SERVER_PROTOCOL"), c.Env("HTTPS"), httpev.HTTPRequest(c).Proto)
		c.Flush()
		c.Print("streamed\n")
	}, httpev.ListenOptions{})
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()

	resp, err := ts.Client().Get(ts.URL + "/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor)
	assert.Equal(t, "proto=HTTP/1.1 https=on real=HTTP/2.0\nstreamed\n", string(b))
}

func TestHTTPHandlerUpload(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		var mu sync.Mutex
		var progress []int64
		written := map[string]int64{}
		lo := httpev.ListenOptions{Threading: threading,
			OnFileWrite: func(c *httpev.CGI, f *httpev.MultipartFile, chunk []byte) {
				mu.Lock()
				defer mu.Unlock()
				progress = append(progress, f.Size())
				written[f.Name()] += int64(len(chunk))
			},
		}
		tmp := t.TempDir()
		base, _ := newBridge(t, httpev.Options{TmpPath: tmp}, lo, func(c *httpev.CGI) {
			c.Printf("title=%s\n", c.Param("title"))
			for _, f := range c.Files() {
				fh, err := f.Open()
				if err != nil {
					c.Printf("error %v\n", err)
					continue
				}
				h := sha256.New()
				_, _ = io.Copy(h, fh)
				fh.Close()
				c.Printf("%s %s %d %x\n", f.FieldName(), f.Name(), f.Size(), h.Sum(nil))
			}
		})

		big := make([]byte, 3<<20+17)
		_, _ = rand.Read(big)
		small := []byte("tiny file")
		for _, chunked := range []bool{false, true} {
			mu.Lock()
			progress, written = nil, map[string]int64{}
			mu.Unlock()
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			_ = mw.WriteField("title", "two files")
			fw, _ := mw.CreateFormFile("doc", "big.bin")
			_, _ = fw.Write(big)
			fw, _ = mw.CreateFormFile("doc", "small.txt")
			_, _ = fw.Write(small)
			_ = mw.Close()
			var body io.Reader = bytes.NewReader(buf.Bytes())
			if chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, _ := http.NewRequest("POST", base+"/upload", body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			resp, out := fetch(t, req)
			require.Equal(t, 200, resp.StatusCode, out)
			assert.Equal(t, "title=two files\n"+
				fmt.Sprintf("doc big.bin %d %s\n", len(big), sum(big))+
				fmt.Sprintf("doc small.txt %d %s\n", len(small), sum(small)), out, "chunked=%v", chunked)

			mu.Lock()
			assert.Equal(t, int64(len(big)), written["big.bin"], "OnFileWrite saw every byte")
			assert.Greater(t, len(progress), 2, "progress arrives in several chunks")
			assert.True(t, sort.SliceIsSorted(progress[:len(progress)-1], func(i, j int) bool { return progress[i] < progress[j] }))
			mu.Unlock()
			entries, _ := os.ReadDir(tmp)
			assert.Empty(t, entries, "temp files removed once the response is out")
		}
	})
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestHTTPHandlerStreaming checks that a flushed piece reaches the client
// while the callback still holds the request.
func TestHTTPHandlerStreaming(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		release := make(chan struct{})
		base, _ := newBridge(t, httpev.Options{}, httpev.ListenOptions{Threading: threading}, func(c *httpev.CGI) {
			c.Header(http.Header{"Content-Type": {"text/event-stream"}})
			c.Keep()
			c.Print("data: one\n\n")
			c.Flush()
			go func() {
				<-release
				c.Print("data: two\n\n")
				c.Close()
			}()
		})
		resp, err := http.Get(base + "/events")
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		br := bufio.NewReader(resp.Body)
		first := make(chan string, 1)
		go func() { line, _ := br.ReadString('\n'); first <- line }()
		select {
		case line := <-first:
			assert.Equal(t, "data: one\n", line)
		case <-time.After(5 * time.Second):
			close(release)
			t.Fatal("the first event did not arrive before the callback finished")
		}
		close(release)
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		assert.Equal(t, "\ndata: two\n\n", string(rest))
	})
}

// TestHTTPHandlerClientGone checks that a client leaving cancels the
// callback's Context and fires OnError.
func TestHTTPHandlerClientGone(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		cancelled := make(chan struct{})
		onError := make(chan error, 1)
		lo := httpev.ListenOptions{Threading: threading, OnError: func(c *httpev.CGI) { onError <- c.Err() }}
		base, _ := newBridge(t, httpev.Options{}, lo, func(c *httpev.CGI) {
			c.Keep()
			c.Print("started\n")
			c.Flush()
			ctx := c.Context()
			go func() {
				<-ctx.Done()
				close(cancelled)
				c.Close()
			}()
		})
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/wait", nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		assert.Equal(t, "started\n", line)
		cancel()
		resp.Body.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the callback's context was not cancelled")
		}
		select {
		case err := <-onError:
			assert.ErrorIs(t, err, httpev.ErrClientGone)
		case <-time.After(5 * time.Second):
			t.Fatal("OnError did not fire")
		}
	})
}

// TestHTTPHandlerNoSpuriousOnError checks that completed requests do not
// look like clients that left, even when the callback watches its
// Context (which makes the engine watch the connection).
func TestHTTPHandlerNoSpuriousOnError(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		var mu sync.Mutex
		var errs []error
		lo := httpev.ListenOptions{Threading: threading, OnError: func(c *httpev.CGI) {
			mu.Lock()
			errs = append(errs, c.Err())
			mu.Unlock()
		}}
		srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		h, err := httpev.NewHTTPHandler(srv, func(c *httpev.CGI) {
			_ = c.Context()
			c.Print("ok")
		}, lo)
		require.NoError(t, err)
		for range 500 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			require.Equal(t, "ok", rec.Body.String())
		}
		// Shutdown, not Close: Close right after the last response cuts a
		// connection the engine is still finishing, which it reports as a
		// client gone (a core race, not the bridge's).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		mu.Lock()
		defer mu.Unlock()
		assert.Empty(t, errs)
	})
}

func TestHTTPHandlerErrors(t *testing.T) {
	base, h := newBridge(t, httpev.Options{MaxURL: 64}, httpev.ListenOptions{}, func(c *httpev.CGI) {
		if c.Path() == "/drop" {
			c.Drop()
			return
		}
		c.Print("ok")
	})

	// The engine's own limits answer as they would on a socket.
	resp, _ := fetch(t, mustRequest("GET", base+"/"+strings.Repeat("x", 100), nil))
	assert.Equal(t, http.StatusRequestURITooLong, resp.StatusCode)

	// Drop cuts the connection rather than sending an empty 200.
	_, err := http.Get(base + "/drop")
	assert.Error(t, err)

	// Closed, the handler answers 503.
	require.NoError(t, h.Close())
	resp, _ = fetch(t, mustRequest("GET", base+"/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestHTTPHandlerMaxBytesReader puts net/http's body limit in front.
func TestHTTPHandlerMaxBytesReader(t *testing.T) {
	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Close()
	h, err := httpev.NewHTTPHandler(srv, func(c *httpev.CGI) { c.Printf("%d files", len(c.Files())) }, httpev.ListenOptions{})
	require.NoError(t, err)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1000)
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("f", "f.bin")
	_, _ = fw.Write(make([]byte, 5000))
	_ = mw.Close()
	req := mustRequest("POST", ts.URL+"/", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, _ := fetch(t, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestNewHTTPHandlerRefusesTLS(t *testing.T) {
	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir()})
	require.NoError(t, err)
	defer srv.Close()
	_, err = httpev.NewHTTPHandler(srv, func(*httpev.CGI) {}, httpev.ListenOptions{CertFile: "x", KeyFile: "y"})
	assert.Error(t, err)
}

func mustRequest(method, url string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		panic(err)
	}
	return req
}

// serveMux is a net/http application served by ServeHandler.
func serveMux(release <-chan struct{}) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Name", r.PathValue("name"))
		fmt.Fprintf(w, "hello %s from %s via %s, q=%s, agent=%s\n", r.PathValue("name"),
			strings.Split(r.RemoteAddr, ":")[0], r.Proto, r.URL.Query().Get("q"), r.UserAgent())
	})
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "title=%s form=%q", r.FormValue("title"), r.Form["a"])
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		_, _, err := r.FormFile("f")
		c := httpev.RequestCGI(r)
		f := c.File("f")[0]
		fmt.Fprintf(w, "note=%s files=%s:%d formfile=%v", r.FormValue("note"), f.Name(), f.Size(), errors.Is(err, http.ErrMissingFile))
	})
	mux.HandleFunc("PUT /body", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d bytes, length %d", len(b), r.ContentLength)
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "k", Value: "v"})
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "<html>short and stout</html>")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "second\n")
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	return mux
}

func TestServeHandler(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		release := make(chan struct{})
		srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer srv.Close()
		l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(serveMux(release)), httpev.ListenOptions{Threading: threading})
		require.NoError(t, err)
		base := "http://" + l.Addr().String()

		req := mustRequest("GET", base+"/hello/gopher?q=1", nil)
		req.Header.Set("User-Agent", "tester")
		resp, body := fetch(t, req)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "gopher", resp.Header.Get("X-Name"))
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), "sniffed")
		assert.Equal(t, "hello gopher from 127.0.0.1 via HTTP/1.1, q=1, agent=tester\n", body)

		resp, _ = fetch(t, mustRequest("GET", base+"/nowhere", nil))
		assert.Equal(t, 404, resp.StatusCode, "the mux's own 404")

		req = mustRequest("POST", base+"/form?a=fromquery", strings.NewReader("title=T&a=frombody"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, body = fetch(t, req)
		assert.Equal(t, `title=T form=["frombody" "fromquery"]`, body)

		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("note", "n1")
		fw, _ := mw.CreateFormFile("f", "a.txt")
		_, _ = fw.Write([]byte("12345"))
		_ = mw.Close()
		req = mustRequest("POST", base+"/upload", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		_, body = fetch(t, req)
		assert.Equal(t, "note=n1 files=a.txt:5 formfile=true", body)

		resp, body = fetch(t, mustRequest("GET", base+"/teapot", nil))
		assert.Equal(t, http.StatusTeapot, resp.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, "k=v", resp.Header.Get("Set-Cookie"))
		assert.Equal(t, "<html>short and stout</html>", body)

		_, err = http.Get(base + "/abort")
		assert.Error(t, err, "ErrAbortHandler drops the connection")

		if threading { // blocking handlers need their own goroutine
			_, body = fetch(t, mustRequest("PUT", base+"/body", strings.NewReader(strings.Repeat("b", 100000))))
			assert.Equal(t, "100000 bytes, length 100000", body)

			resp, err := http.Get(base + "/stream")
			require.NoError(t, err)
			br := bufio.NewReader(resp.Body)
			line, _ := br.ReadString('\n')
			assert.Equal(t, "first\n", line, "flushed before the handler returned")
			close(release)
			rest, _ := io.ReadAll(br)
			resp.Body.Close()
			assert.Equal(t, "second\n", string(rest))
		}
	})
}

// TestServeHandlerBigWrite writes more than MaxBuffered at once: with
// Threading on the writer waits for the client, with it off it cannot.
func TestServeHandlerBigWrite(t *testing.T) {
	threadingModes(t, func(t *testing.T, threading bool) {
		werr := make(chan error, 1)
		srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
			MaxBuffered: 100 << 10, FlushThreshold: 1 << 20}) // nothing leaves before the Buffer is full
		require.NoError(t, err)
		defer srv.Close()
		l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := w.Write(bytes.Repeat([]byte("x"), 1<<20))
			werr <- err
		})), httpev.ListenOptions{Threading: threading})
		require.NoError(t, err)
		resp, body := fetch(t, mustRequest("GET", "http://"+l.Addr().String()+"/", nil))
		assert.Equal(t, 200, resp.StatusCode)
		if threading {
			assert.NoError(t, <-werr)
			assert.Equal(t, 1<<20, len(body))
		} else {
			assert.ErrorIs(t, <-werr, httpev.ErrBufferFull)
		}
	})
}

func TestServeHandlerHijack(t *testing.T) {
	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Close()
	l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo: " + line)
		_ = rw.Flush()
	})), httpev.ListenOptions{Threading: true})
	require.NoError(t, err)

	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, 101, resp.StatusCode)
	_, _ = io.WriteString(nc, "ping\n")
	line, _ := br.ReadString('\n')
	assert.Equal(t, "echo: ping\n", line)
}

// TestServeHandlerHijackAfter101 is how WebSocket libraries upgrade
// (coder/websocket, gorilla): headers set, WriteHeader(101), then Hijack,
// which must send that head before handing the connection over.
func TestServeHandlerHijackAfter101(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			defer srv.Close()
			l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Upgrade", "echo")
				w.Header().Set("Connection", "Upgrade")
				w.WriteHeader(http.StatusSwitchingProtocols)
				nc, rw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				go func() { // the callback returns; the connection is the handler's
					defer nc.Close()
					line, _ := rw.ReadString('\n')
					_, _ = rw.WriteString("echo: " + line)
					_ = rw.Flush()
				}()
			})), httpev.ListenOptions{Threading: threading})
			require.NoError(t, err)

			nc, err := net.Dial("tcp", l.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			assert.Equal(t, 101, resp.StatusCode)
			assert.Equal(t, "echo", resp.Header.Get("Upgrade"))
			assert.Equal(t, []string{"Upgrade"}, resp.Header.Values("Connection"))
			assert.Empty(t, resp.Header.Get("Content-Type"), "a 101 has no body")
			_, _ = io.WriteString(nc, "ping\n")
			line, _ := br.ReadString('\n')
			assert.Equal(t, "echo: ping\n", line)
		})
	}
}

// TestBridgeBothWays runs a net/http mux through ServeHandler inside an
// HTTPHandler inside net/http: both adapters at once, as a smoke test that
// each keeps the other's contract.
func TestBridgeBothWays(t *testing.T) {
	base, _ := newBridge(t, httpev.Options{}, httpev.ListenOptions{Threading: true}, httpev.ServeHandler(serveMux(nil)))
	req := mustRequest("POST", base+"/form", strings.NewReader("title=round&a=trip"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := fetch(t, req)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, `title=round form=["trip"]`, body)
}

// BenchmarkHTTPHandler measures the bridge alone: ServeHTTP with a
// recorder, no sockets, against the same callback's work done by a plain
// http.HandlerFunc.
func BenchmarkHTTPHandler(b *testing.B) {
	for _, threading := range []bool{false, true} {
		b.Run(fmt.Sprintf("threading=%v", threading), func(b *testing.B) {
			srv, err := httpev.New(httpev.Options{TmpPath: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			require.NoError(b, err)
			defer srv.Close()
			h, err := httpev.NewHTTPHandler(srv, func(c *httpev.CGI) { c.Printf("hello %s\n", c.Param("name")) },
				httpev.ListenOptions{Threading: threading})
			require.NoError(b, err)
			req := httptest.NewRequest("GET", "/?name=bench", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
	b.Run("plain net/http handler", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s\n", r.FormValue("name")) })
		req := httptest.NewRequest("GET", "/?name=bench", nil)
		b.ReportAllocs()
		for b.Loop() {
			req.Form = nil
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}

// BenchmarkBridgeOverLoopback compares whole requests over loopback TCP:
// httpev serving the socket itself, the same callback behind net/http
// through HTTPHandler, and net/http alone.
func BenchmarkBridgeOverLoopback(b *testing.B) {
	srv, err := httpev.New(httpev.Options{TmpPath: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	defer srv.Close()
	cb := func(c *httpev.CGI) { c.Printf("hello %s\n", c.Param("name")) }
	l, err := srv.Listen("127.0.0.1:0", cb, httpev.ListenOptions{})
	require.NoError(b, err)
	h, err := httpev.NewHTTPHandler(srv, cb, httpev.ListenOptions{})
	require.NoError(b, err)
	bridged := httptest.NewServer(h)
	defer bridged.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.FormValue("name"))
	}))
	defer plain.Close()
	for _, tc := range []struct{ name, url string }{
		{"httpev", "http://" + l.Addr().String()},
		{"net/http+HTTPHandler", bridged.URL},
		{"net/http", plain.URL},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for b.Loop() {
				resp, err := c.Get(tc.url + "/?name=bench")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestServeHandlerFormMatchesNetHTTP: Form and PostForm, names repeated in
// the query and the body, come out as net/http's ParseForm makes them.
func TestServeHandlerFormMatchesNetHTTP(t *testing.T) {
	const query, body = "a=q1&b=q2&a=q3&c=", "a=p1&d=p2&a=p3&b=p4"
	show := func(r *http.Request) string { return r.Form.Encode() + " | " + r.PostForm.Encode() }
	want := mustRequest("POST", "http://x/f?"+query, strings.NewReader(body))
	want.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	require.NoError(t, want.ParseForm())

	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer srv.Close()
	l, err := srv.Listen("127.0.0.1:0", httpev.ServeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, show(r))
	})), httpev.ListenOptions{})
	require.NoError(t, err)
	req := mustRequest("POST", "http://"+l.Addr().String()+"/f?"+query, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, got := fetch(t, req)
	assert.Equal(t, show(want), got)
}
