package httpev

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The drain window (drain.go): a request sent on an idle keep-alive
// connection just after a graceful shutdown began is answered in full,
// with Connection: close, whether the connection waited on its goroutine,
// in its park grace, or parked in the poller (Linux), in both threading
// modes.

func drainGet(n int) string { return fmt.Sprintf("GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n) }

func drainEcho(c *CGI) { c.Print("ok " + c.Param("n")) }

// drainIdle is how the test's connections wait when the shutdown begins.
type drainIdle struct {
	name  string
	opts  Options
	sleep time.Duration // after the first response
	park  bool          // Linux: the connections must be parked by then
}

var drainIdles = []drainIdle{
	{name: "goroutine", opts: Options{NoIdlePark: true}},
	{name: "grace"}, // within the 100 ms before parking (resident at once with Threading)
	{name: "parked", sleep: 300 * time.Millisecond, park: true},
}

// openIdle opens n keep-alive connections, each having served request 1.
func openIdle(t *testing.T, l *PortListener, n int) ([]net.Conn, []*bufio.Reader) {
	t.Helper()
	conns := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	for i := range conns {
		conns[i], brs[i] = rawConn(t, l)
		_, err := io.WriteString(conns[i], drainGet(1))
		require.NoError(t, err)
	}
	for _, br := range brs {
		resp, body := readResponse(t, br, "GET")
		require.Equal(t, "ok 1", body)
		require.False(t, resp.Close)
	}
	return conns, brs
}

// startShutdown begins a graceful shutdown and waits until every
// connection of srv has been marked closing, so that what the test sends
// next arrives after the shutdown began.
func startShutdown(t *testing.T, srv *Server, timeout time.Duration) (<-chan error, time.Time) {
	t.Helper()
	shut := make(chan error, 1)
	began := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	require.Eventually(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if !srv.shutting {
			return false
		}
		for c := range srv.conns {
			if !c.closing.Load() {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	return shut, began
}

func TestDrainWindowServesRequestAfterShutdown(t *testing.T) {
	for _, threading := range []bool{false, true} {
		for _, idle := range drainIdles {
			t.Run(fmt.Sprintf("threading=%v/%s", threading, idle.name), func(t *testing.T) {
				leakCheck(t)
				srv, l, _ := testServer(t, idle.opts, ListenOptions{Threading: threading}, drainEcho)
				const n = 4
				conns, brs := openIdle(t, l, n+1) // the last one sends nothing more
				time.Sleep(idle.sleep)
				if idle.park {
					waitIdleParked(t, srv, n+1)
				}
				shut, began := startShutdown(t, srv, 10*time.Second)
				for i := range n {
					_, err := io.WriteString(conns[i], drainGet(2))
					require.NoError(t, err)
				}
				for i := range n {
					resp, body := readResponse(t, brs[i], "GET")
					assert.Equal(t, 200, resp.StatusCode)
					assert.Equal(t, "ok 2", body, "the request sent in the drain window is answered")
					assert.True(t, resp.Close, "with Connection: close")
					expectClosed(t, brs[i])
				}
				// The connection that stays quiet closes when the window ends.
				expectClosed(t, brs[n])
				quiet := time.Since(began)
				require.NoError(t, <-shut)
				took := time.Since(began)
				t.Logf("quiet connection closed after %v, Shutdown took %v", quiet.Round(time.Millisecond), took.Round(time.Millisecond))
				assert.GreaterOrEqual(t, quiet, defaultDrainWindow*9/10, "the idle connection stayed open for the window")
				assert.Less(t, took, 5*time.Second)
			})
		}
	}
}

// TestDrainWindowOff is the same request with the window disabled: the
// idle connection is closed at once and the request is lost, which is
// what the window is for.
func TestDrainWindowOff(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			srv, l, _ := testServer(t, Options{DrainWindow: -1}, ListenOptions{Threading: threading}, drainEcho)
			conns, brs := openIdle(t, l, 1)
			shut, began := startShutdown(t, srv, 10*time.Second)
			require.NoError(t, <-shut)
			assert.Less(t, time.Since(began), defaultDrainWindow/2, "no window: idle connections close at once")
			_, _ = io.WriteString(conns[0], drainGet(2))
			_, err := http.ReadResponse(brs[0], nil)
			require.Error(t, err, "the connection was closed: no answer")
		})
	}
}

// TestDrainWindowCappedByContext: a Shutdown context shorter than the
// window shortens it to half of what the context leaves, so that Shutdown
// still succeeds; a request in the shortened window is still answered.
func TestDrainWindowCappedByContext(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{DrainWindow: time.Minute}, ListenOptions{}, drainEcho)
	conns, brs := openIdle(t, l, 2)
	shut, began := startShutdown(t, srv, 2*time.Second)
	_, err := io.WriteString(conns[0], drainGet(2))
	require.NoError(t, err)
	resp, body := readResponse(t, brs[0], "GET")
	assert.Equal(t, "ok 2", body)
	assert.True(t, resp.Close)
	require.NoError(t, <-shut, "the window ended before the context")
	took := time.Since(began)
	assert.GreaterOrEqual(t, took, 900*time.Millisecond, "the quiet connection waited half of the context's 2 s")
	assert.Less(t, took, 2*time.Second)
	expectClosed(t, brs[1])
}

// TestDrainWindowListenerShutdown: PortListener.Shutdown opens the window
// for its own connections.
func TestDrainWindowListenerShutdown(t *testing.T) {
	leakCheck(t)
	_, l, _ := testServer(t, Options{}, ListenOptions{}, drainEcho)
	conns, brs := openIdle(t, l, 1)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- l.Shutdown(ctx)
	}()
	require.Eventually(t, func() bool { return l.drainBy.Load() != 0 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // its drain has marked the connection closing
	_, err := io.WriteString(conns[0], drainGet(2))
	require.NoError(t, err)
	resp, body := readResponse(t, brs[0], "GET")
	assert.Equal(t, "ok 2", body)
	assert.True(t, resp.Close)
	require.NoError(t, <-shut)
}
