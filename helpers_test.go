package httpev

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev/internal/leakcheck"
)

// TestMain fails the run if goroutines outlive the tests: every server,
// connection and callback goroutine must be gone once servers are closed.
// TestMain fails the run if the tests leave goroutines of the package or
// open file descriptors behind.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/httpev/httpev."))
}

// testServer starts a server on a loopback port and closes it with the test.
func testServer(t testing.TB, opts Options, lo ListenOptions, cb func(*CGI)) (*Server, *PortListener, string) {
	t.Helper()
	if opts.TmpPath == "" {
		opts.TmpPath = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(opts)
	require.NoError(t, err)
	l, err := srv.Listen("127.0.0.1:0", cb, lo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv, l, "http://" + l.Addr().String()
}

// rawConn dials the listener for hand-written requests.
func rawConn(t testing.TB, l *PortListener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// readResponse reads one response from a raw connection.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(body)
}

// expectClosed asserts the server closes the connection (after any bytes).
func expectClosed(t testing.TB, br *bufio.Reader) {
	t.Helper()
	_, err := io.ReadAll(br)
	require.NoError(t, err) // EOF, not a timeout
}

// client is an HTTP client that does not share connections between tests.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
}

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	c := client()
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// lockedBuffer collects a server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// raceEnabled reports whether the tests run under the race detector, which
// changes allocation counts (sync.Pool drops a quarter of what is put back).
func raceEnabled() bool { return raceOnce() }

var raceOnce = sync.OnceValue(func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
})
