package httpev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parkedConns is how many connections wait in srv's poller.
func parkedConns(srv *Server) int { return pollerCounts(srv).Listed }

// parks is how many times srv has registered a connection in its poller.
func parks(srv *Server) uint64 { return pollerCounts(srv).Registrations }

// waitParked waits until srv has exactly n connections parked.
func waitParked(t testing.TB, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for parkedConns(srv) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked, want %d; goroutines:\n%s", parkedConns(srv), n, stackSummary())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openParked opens n connections, serves one request on each and waits
// until all of them are parked.
func openParked(t *testing.T, srv *Server, l *PortListener, n int) ([]net.Conn, []*bufio.Reader) {
	t.Helper()
	conns := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	for i := range conns {
		conns[i], brs[i] = rawConn(t, l)
		io.WriteString(conns[i], parkGet(i))
	}
	for i := range conns {
		expectOK(t, brs[i], i)
	}
	waitParked(t, srv, n)
	return conns, brs
}

// parkedConn is openParked for one connection.
func parkedConn(t *testing.T, srv *Server, l *PortListener) (net.Conn, *bufio.Reader) {
	t.Helper()
	cs, brs := openParked(t, srv, l, 1)
	return cs[0], brs[0]
}

// serveGoroutines counts connection goroutines: a parked connection has none.
func serveGoroutines() int {
	return strings.Count(allStacks(), "httpev.(*conn).serve(")
}

// noServeGoroutines waits (briefly) for every connection goroutine to
// end: a connection is listed as parked just before its goroutine returns.
func noServeGoroutines(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for serveGoroutines() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return serveGoroutines()
}

func parkGet(n int) string { return fmt.Sprintf("GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n) }

func parkEcho(c *CGI) { c.Print("ok " + c.Param("n")) }

// expectOK reads one response and checks it answers request n.
func expectOK(t testing.TB, br *bufio.Reader, n int) {
	t.Helper()
	resp, body := readResponse(t, br, "GET")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, fmt.Sprintf("ok %d", n), body)
}

func TestIdleParkNextRequest(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			leakCheck(t)
			srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, parkEcho)
			conn, br := rawConn(t, l)

			io.WriteString(conn, parkGet(1))
			expectOK(t, br, 1)
			waitParked(t, srv, 1)
			assert.Equal(t, 0, noServeGoroutines(t), "a parked connection has no goroutine")
			assert.Equal(t, 1, serverConns(srv), "a parked connection stays tracked")

			io.WriteString(conn, parkGet(2))
			expectOK(t, br, 2)

			// A request arriving in pieces: the first byte wakes the
			// connection, the rest is read by the head reader.
			waitParked(t, srv, 1)
			req := parkGet(3)
			for _, piece := range []string{req[:1], req[1:9], req[9:20], req[20:]} {
				io.WriteString(conn, piece)
				time.Sleep(20 * time.Millisecond)
			}
			expectOK(t, br, 3)

			// Pipelined requests in one write.
			waitParked(t, srv, 1)
			io.WriteString(conn, parkGet(4)+parkGet(5)+parkGet(6))
			for n := 4; n <= 6; n++ {
				expectOK(t, br, n)
			}
			waitParked(t, srv, 1)
		})
	}
}

func TestIdleParkMany(t *testing.T) {
	leakCheck(t)
	const n = 500
	srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, parkEcho)
	conns, brs := openParked(t, srv, l, n)
	assert.Equal(t, 0, noServeGoroutines(t))

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range conns {
		wg.Go(func() {
			if _, err := io.WriteString(conns[i], parkGet(i+n)); err != nil {
				errs <- err
				return
			}
			resp, err := readBody200(brs[i])
			if err == nil && resp != fmt.Sprintf("ok %d", i+n) {
				err = fmt.Errorf("conn %d: got %q", i, resp)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitParked(t, srv, n)
}

// readBody200 reads one 200 response with a Content-Length and returns its
// body; unlike readResponse it does not need the test's goroutine.
func readBody200(br *bufio.Reader) (string, error) {
	tp, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(tp, "HTTP/1.1 200 ") {
		return "", fmt.Errorf("status line %q", tp)
	}
	length := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length: "); ok {
			fmt.Sscan(v, &length)
		}
	}
	if length < 0 {
		return "", fmt.Errorf("no Content-Length")
	}
	body := make([]byte, length)
	_, err = io.ReadFull(br, body)
	return string(body), err
}

func TestIdleParkTimeout(t *testing.T) {
	leakCheck(t)
	var logged lockedBuffer
	srv, l, _ := testServer(t, Options{IdleTimeout: 400 * time.Millisecond, Logger: logged.logger()}, ListenOptions{}, parkEcho)
	_, br := parkedConn(t, srv, l)
	start := time.Now()
	rest, err := io.ReadAll(br)
	require.NoError(t, err, "the server closes the connection (EOF), not the client's deadline")
	assert.Empty(t, string(rest), "an idle timeout is silent: no 408")
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "closed by the idle timeout, not at once")
	requireNoConns(t, srv, 5*time.Second)
	assert.Equal(t, 0, parkedConns(srv))
	assert.NotContains(t, logged.String(), "level=ERROR")
	assert.NotContains(t, logged.String(), "level=WARN")
}

// TestIdleParkTimeoutOrder parks two connections half a second apart: the
// sweep closes the first at its idle timeout and leaves the second parked.
func TestIdleParkTimeoutOrder(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{IdleTimeout: time.Second}, ListenOptions{}, parkEcho)
	connA, brA := rawConn(t, l)
	io.WriteString(connA, parkGet(1))
	expectOK(t, brA, 1)
	waitParked(t, srv, 1)
	time.Sleep(500 * time.Millisecond)
	connB, brB := rawConn(t, l)
	io.WriteString(connB, parkGet(2))
	expectOK(t, brB, 2)
	waitParked(t, srv, 2)
	expectClosed(t, brA)
	assert.Equal(t, 1, parkedConns(srv), "the later connection is not due yet")
	expectClosed(t, brB)
	requireNoConns(t, srv, 5*time.Second)
}

// TestIdleParkCloseWhileWaking closes the server while parked connections
// are being woken by their requests: each client gets its response or the
// end of the connection, and nothing is left behind.
func TestIdleParkCloseWhileWaking(t *testing.T) {
	leakCheck(t)
	const n = 200
	srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, parkEcho)
	conns, brs := openParked(t, srv, l, n)
	var wg sync.WaitGroup
	var hung atomic.Int32
	for i := range conns {
		wg.Go(func() {
			io.WriteString(conns[i], parkGet(i))
			// A response or none, then the end (EOF, or a reset when the
			// request was still unread): never the client's own deadline.
			if _, err := io.ReadAll(brs[i]); errors.Is(err, os.ErrDeadlineExceeded) {
				hung.Add(1)
			}
		})
	}
	require.NoError(t, srv.Close())
	wg.Wait()
	assert.Zero(t, hung.Load(), "connections left open by Close")
	assert.Equal(t, 0, serverConns(srv))
	assert.Equal(t, 0, parkedConns(srv))
}

func TestIdleParkTimeoutDisabled(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{IdleTimeout: -1}, ListenOptions{Timeout: -1}, parkEcho)
	conn, br := parkedConn(t, srv, l)
	// Neither timeout runs: the connection stays parked, and a head
	// arriving in pieces is not cut by the grace's deadline.
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, parkedConns(srv))
	req := parkGet(2)
	io.WriteString(conn, req[:5])
	time.Sleep(250 * time.Millisecond)
	io.WriteString(conn, req[5:])
	expectOK(t, br, 2)
}

func TestIdleParkShortIdleTimeout(t *testing.T) {
	leakCheck(t)
	// An idle timeout within the grace ends the wait before parking would.
	srv, l, _ := testServer(t, Options{IdleTimeout: 50 * time.Millisecond}, ListenOptions{}, parkEcho)
	conn, br := rawConn(t, l)
	io.WriteString(conn, parkGet(1))
	expectOK(t, br, 1)
	expectClosed(t, br)
	_ = conn
	requireNoConns(t, srv, 5*time.Second)
	assert.Zero(t, parks(srv))
}

func TestIdleParkBusyNeverParks(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{}, ListenOptions{}, parkEcho)
	conn, br := rawConn(t, l)
	for i := range 200 {
		io.WriteString(conn, parkGet(i))
		expectOK(t, br, i)
	}
	assert.Zero(t, parks(srv), "a connection that is never idle for the grace never parks")
}

func TestIdleParkOff(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{NoIdlePark: true}, ListenOptions{}, parkEcho)
	conn, br := rawConn(t, l)
	io.WriteString(conn, parkGet(1))
	expectOK(t, br, 1)
	time.Sleep(3 * poller.DefaultTuning().Grace)
	assert.Zero(t, parks(srv))
	assert.Equal(t, 1, serveGoroutines())
	io.WriteString(conn, parkGet(2))
	expectOK(t, br, 2)
}

func TestIdleParkFirstRequestAndTLSNeverPark(t *testing.T) {
	leakCheck(t)
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	srv, l, _ := testServer(t, Options{}, ListenOptions{CertFile: certFile, KeyFile: keyFile}, parkEcho)
	conn, _ := rawConn(t, l) // connected, nothing sent: waits for its first request
	_ = conn
	time.Sleep(3 * poller.DefaultTuning().Grace)
	assert.Zero(t, parks(srv))
	assert.Equal(t, 1, serveGoroutines())
}

func TestIdleParkClientCloses(t *testing.T) {
	leakCheck(t)
	closed := make(chan string, 1)
	srv, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.AddCloseHandler(func() { closed <- "closed" })
		parkEcho(c)
	})
	conn, _ := parkedConn(t, srv, l)
	require.NoError(t, conn.Close())
	select {
	case v := <-closed:
		assert.Equal(t, "closed", v)
	case <-time.After(5 * time.Second):
		t.Fatal("close handler did not run for a parked connection the client closed")
	}
	requireNoConns(t, srv, 5*time.Second)
	assert.Equal(t, 0, parkedConns(srv))
}

func TestIdleParkShutdownAndClose(t *testing.T) {
	for _, mode := range []string{"Server.Shutdown", "Server.Close", "PortListener.Close", "PortListener.Shutdown"} {
		t.Run(mode, func(t *testing.T) {
			leakCheck(t)
			const n = 20
			closed := make(chan struct{}, n)
			srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: mode == "Server.Close"}, func(c *CGI) {
				c.AddCloseHandler(func() { closed <- struct{}{} })
				parkEcho(c)
			})
			brs := make([]*bufio.Reader, n)
			for i := range brs {
				var conn net.Conn
				conn, brs[i] = rawConn(t, l)
				io.WriteString(conn, parkGet(i))
				expectOK(t, brs[i], i)
			}
			waitParked(t, srv, n)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			switch mode {
			case "Server.Shutdown":
				require.NoError(t, srv.Shutdown(ctx))
			case "Server.Close":
				require.NoError(t, srv.Close())
			case "PortListener.Close":
				require.NoError(t, l.Close())
			case "PortListener.Shutdown":
				require.NoError(t, l.Shutdown(ctx))
			}
			assert.Equal(t, 0, serverConns(srv), "returns once every connection is gone")
			assert.Equal(t, 0, parkedConns(srv))
			for _, br := range brs {
				expectClosed(t, br)
			}
			for range n {
				select {
				case <-closed:
				case <-time.After(5 * time.Second):
					t.Fatal("close handlers of parked connections did not all run")
				}
			}
		})
	}
}

// TestIdleParkShutdownServesArrived holds the poller back while a request
// arrives on a parked connection and a graceful shutdown begins: whichever
// of the two then takes the connection, the request is answered in full.
func TestIdleParkShutdownServesArrived(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			leakCheck(t)
			srv, l, _ := testServer(t, Options{}, ListenOptions{}, parkEcho)
			conn, br := parkedConn(t, srv, l)

			release := srv.ev.p.Hold()
			io.WriteString(conn, parkGet(2))
			time.Sleep(50 * time.Millisecond) // the request is in the socket
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				done <- srv.Shutdown(ctx)
			}()
			time.Sleep(50 * time.Millisecond) // Shutdown has begun, its drain waits for the poller
			release()

			expectOK(t, br, 2)
			expectClosed(t, br)
			require.NoError(t, <-done)
		})
	}
}

// TestIdleParkShutdownDrainsArrived makes the poller miss a request that
// arrived (its registration no longer reports anything), so that a graceful
// shutdown is what finds it, and must answer it before closing.
func TestIdleParkShutdownDrainsArrived(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{}, ListenOptions{}, parkEcho)
	conn, br := parkedConn(t, srv, l)
	muted, err := srv.ev.p.MuteOldest()
	require.NoError(t, err)
	require.True(t, muted)
	io.WriteString(conn, parkGet(2))
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, 1, parkedConns(srv), "the request went unnoticed")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	resp, body := readResponse(t, br, "GET")
	assert.Equal(t, "ok 2", body)
	assert.True(t, resp.Close, "answered with Connection: close")
	expectClosed(t, br)
}

func TestIdleParkUnixSocket(t *testing.T) {
	leakCheck(t)
	srv, err := New(Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	path := filepath.Join(t.TempDir(), "s.sock")
	_, err = srv.Listen("unix:"+path, parkEcho, ListenOptions{})
	require.NoError(t, err)
	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	io.WriteString(conn, parkGet(1))
	expectOK(t, br, 1)
	waitParked(t, srv, 1)
	io.WriteString(conn, parkGet(2))
	expectOK(t, br, 2)
}
