package httpev

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain fails the run if goroutines outlive the tests: every server,
// connection and callback goroutine must be gone once servers are closed.
func TestMain(m *testing.M) {
	// The runtime's network poller opens its descriptors on first use and
	// keeps them; start it so that they are not counted as leaks.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	fds := fdTargets()
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			os.Stderr.WriteString("leaked goroutines:\n" + leaked)
			code = 1
		}
		if leaked := leakedFDs(fds, 5*time.Second); leaked != "" {
			os.Stderr.WriteString("leaked file descriptors:\n" + leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// fdTargets maps this process's open descriptors to what they refer to;
// nil where /proc is not available.
func fdTargets() map[string]string {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	m := make(map[string]string, len(es))
	for _, e := range es {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		m[e.Name()] = target
	}
	return m
}

// leakedFDs lists descriptors open now that were not open before the
// tests (sockets, temp files), after giving closes in flight time to end.
func leakedFDs(before map[string]string, wait time.Duration) string {
	if before == nil {
		return ""
	}
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for fd, target := range fdTargets() {
			if before[fd] != target && !strings.HasPrefix(target, "/proc/") {
				leaked = append(leaked, fd+" -> "+target)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/httpev/httpev.") && !strings.Contains(g, "TestMain") &&
				!strings.Contains(g, "leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
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
