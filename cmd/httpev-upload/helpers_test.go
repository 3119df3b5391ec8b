package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev/internal/leakcheck"
)

// TestMain fails the run if goroutines of the app or the library, or open
// file descriptors, outlive the tests: once run has returned, every request
// goroutine, progress stream and server goroutine must be gone.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/httpev/httpev"))
}

// testApp is the program started in-process by run, on a free port.
type testApp struct {
	base   string // http://127.0.0.1:port
	dir    string
	tmp    string
	cancel context.CancelFunc
	done   chan error
	out    *syncBuffer
}

// startApp runs the program with -addr 127.0.0.1:0, fresh -dir and -tmp
// directories and no restarts (tableflip allows one per process, and a
// restart re-execs the binary: restart_test.go runs it as a process);
// extra flags come last, so they win. The server is shut down
// with the test.
func startApp(t *testing.T, extra ...string) *testApp {
	t.Helper()
	a := &testApp{dir: t.TempDir(), tmp: t.TempDir(), done: make(chan error, 1), out: &syncBuffer{}}
	args := append([]string{"-addr", "127.0.0.1:0", "-dir", a.dir, "-tmp", a.tmp, "-grace", "20s", "-restart=false"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	addr := make(chan string, 1)
	go func() { a.done <- run(ctx, args, a.out, func(s string) { addr <- s }) }()
	scheme := "http"
	if strings.Contains(strings.Join(extra, " "), "-tls-cert") {
		scheme = "https"
	}
	select {
	case s := <-addr:
		a.base = scheme + "://" + s
	case err := <-a.done:
		cancel()
		t.Fatalf("run ended before serving: %v\n%s", err, a.out.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		closeIdle()
		a.cancel()
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			t.Error("run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("server output:\n%s", a.out.String())
		}
	})
	return a
}

// stop ends run's context, as SIGINT does, and returns run's result. It
// may be called from any goroutine.
func (a *testApp) stop() error {
	closeIdle()
	a.cancel()
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		return errors.New("run did not return within 30s of its context ending")
	}
}

// syncBuffer collects the server's log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closeIdle closes the test clients' idle keep-alive connections before
// the server stops: otherwise its graceful shutdown keeps them open for the
// drain window (a second), waiting for a request that will not come.
func closeIdle() { http.DefaultTransport.(*http.Transport).CloseIdleConnections() }

// client is a Go HTTP client that gives up rather than hang a test.
func client() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type part struct {
	field, name string // name "" makes a plain form field
	data        []byte
	ctype       string
}

// multipartBody builds a form; files get the content type given or
// application/octet-stream, like browsers send for unknown types.
func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.name == "" {
			require.NoError(t, w.WriteField(p.field, string(p.data)))
			continue
		}
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="` + p.field + `"; filename="` + p.name + `"`}
		h["Content-Type"] = []string{p.ctype}
		if p.ctype == "" {
			h["Content-Type"] = []string{"application/octet-stream"}
		}
		pw, err := w.CreatePart(h)
		require.NoError(t, err)
		_, err = pw.Write(p.data)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return w.FormDataContentType(), buf.Bytes()
}

// do sends a request and returns the status, headers and whole body.
func do(t testing.TB, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

func newRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	return req
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "body: %s", b)
	return v
}

// listing is the answer of GET /files and POST /files.
type listing struct {
	Files []fileInfo `json:"files"`
}

// upload posts files to /files and returns the saved entries.
func upload(t testing.TB, base, query string, parts ...part) []fileInfo {
	t.Helper()
	ct, body := multipartBody(t, parts...)
	req := newRequest(t, "POST", base+"/files"+query, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	status, _, out := do(t, req)
	require.Equal(t, http.StatusOK, status, "%s", out)
	return decode[listing](t, out).Files
}

func list(t testing.TB, base string) []fileInfo {
	t.Helper()
	status, _, out := do(t, newRequest(t, "GET", base+"/files", nil))
	require.Equal(t, http.StatusOK, status)
	return decode[listing](t, out).Files
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
