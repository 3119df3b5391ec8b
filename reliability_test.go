package httpev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file holds the helpers shared by the reliability suites
// (reliability, hostile, faults, shutdown_load, soak) and the connection
// limit tests. Every test of these suites starts with leakCheck, so each
// one proves on its own that it leaves no goroutine or file descriptor
// behind; TestMain adds the package-wide goroutine check at the end.

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(es)
}

// leakCheck records the open descriptors and goroutines now and, when the
// test ends (after the servers it started are closed, since cleanups run
// last-in first-out), requires both to come back to at most that.
func leakCheck(t *testing.T) {
	t.Helper()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	t.Cleanup(func() {
		// A plain loop rather than assert.Eventually, whose own goroutine
		// would be counted.
		deadline := time.Now().Add(10 * time.Second)
		for {
			nfd, ng := openFDs(t), runtime.NumGoroutine()
			if nfd <= fds && ng <= gs {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leak: file descriptors %d -> %d, goroutines %d -> %d\n%s", fds, nfd, gs, ng, allStacks())
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// serverConns is how many connections the server tracks right now.
func serverConns(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.conns)
}

// requireNoConns waits for the server to have dropped every connection.
func requireNoConns(t testing.TB, srv *Server, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for serverConns(srv) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("server still holds %d connections after %v; its goroutines:\n%s", serverConns(srv), within, stackSummary())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stackSummary groups the package's goroutines by where they wait.
func stackSummary() string {
	count := map[string]int{}
	for _, g := range strings.Split(allStacks(), "\n\n") {
		if !strings.Contains(g, "github.com/httpev/httpev.") {
			continue
		}
		lines := strings.Split(g, "\n")
		state := lines[0]
		if i := strings.Index(state, "["); i >= 0 {
			state = state[i:]
		}
		var frames []string
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "\t") && len(frames) < 6 {
				if i := strings.LastIndex(l, "("); i > 0 {
					l = l[:i]
				}
				frames = append(frames, l)
			}
		}
		count[state+" "+strings.Join(frames, " < ")]++
	}
	var b strings.Builder
	for k, n := range count {
		fmt.Fprintf(&b, "%5d %s\n", n, k)
	}
	return b.String()
}

// highWater tracks the maximum of a gauge that goes up and down.
type highWater struct{ cur, max atomic.Int64 }

func (h *highWater) add(d int64) {
	n := h.cur.Add(d)
	for {
		m := h.max.Load()
		if n <= m || h.max.CompareAndSwap(m, n) {
			return
		}
	}
}

// sampleConns records the largest len(srv.conns) seen until stop is called.
func sampleConns(srv *Server) (stop func() int) {
	var max atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if n := int64(serverConns(srv)); n > max.Load() {
				max.Store(n)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int {
		close(done)
		<-finished
		return int(max.Load())
	}
}

// dial opens a raw client connection with a generous overall deadline; the
// caller closes it.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// noBytesYet reports whether nothing has arrived on c within d.
func noBytesYet(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
}

// TestMaxConnsBacklog: past MaxConns clients wait in the kernel's backlog,
// costing the server no goroutine, and are all served once slots free;
// the server never holds more than MaxConns connections.
func TestMaxConnsBacklog(t *testing.T) {
	leakCheck(t)
	const max, waiting = 3, 40
	release := make(chan struct{})
	srv, l, _ := testServer(t, Options{MaxConns: max}, ListenOptions{Threading: true}, func(c *CGI) {
		if c.Path() == "/hold" {
			<-release
		}
		c.Print("ok ", c.Path())
	})
	stop := sampleConns(srv)
	addr := l.Addr().String()
	var held []net.Conn
	for range max {
		c := dial(t, addr)
		defer c.Close()
		_, err := io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		held = append(held, c)
	}
	require.Eventually(t, func() bool { return serverConns(srv) == max }, 5*time.Second, 5*time.Millisecond)

	g0 := runtime.NumGoroutine()
	var queued []net.Conn
	for i := range waiting {
		c := dial(t, addr) // the kernel completes the handshake; the server does not accept
		defer c.Close()
		_, err := fmt.Fprintf(c, "GET /q%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i)
		require.NoError(t, err)
		queued = append(queued, c)
	}
	assert.True(t, noBytesYet(queued[0], 300*time.Millisecond), "a client past MaxConns was answered")
	assert.Equal(t, max, serverConns(srv))
	assert.Less(t, runtime.NumGoroutine()-g0, 10, "waiting clients must not cost goroutines")

	close(release)
	for _, c := range held {
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "ok /hold", body)
		c.Close()
	}
	for i, c := range queued {
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, fmt.Sprintf("ok /q%d", i), body)
		c.Close()
	}
	assert.LessOrEqual(t, stop(), max, "connections served at once")
	requireNoConns(t, srv, 5*time.Second)
}

// TestRejectOverloadAnswers503: with RejectOverload clients past MaxConns
// get a complete 503 with Retry-After and a closed connection, the held
// requests are unaffected, and a later client is served normally.
func TestRejectOverloadAnswers503(t *testing.T) {
	leakCheck(t)
	const max, extra = 2, 30
	release := make(chan struct{})
	srv, l, base := testServer(t, Options{MaxConns: max, RejectOverload: true}, ListenOptions{Threading: true}, func(c *CGI) {
		if c.Path() == "/hold" {
			<-release
		}
		c.Print("ok")
	})
	addr := l.Addr().String()
	var held []net.Conn
	for range max {
		c := dial(t, addr)
		defer c.Close()
		_, err := io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		held = append(held, c)
	}
	require.Eventually(t, func() bool { return serverConns(srv) == max }, 5*time.Second, 5*time.Millisecond)

	got503, reset := 0, 0
	for range extra {
		c := dial(t, addr)
		// The client has not sent its request yet when the 503 comes: the
		// server does not wait for it (see TestRejectOverloadAfterRequestSent).
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			reset++
			c.Close()
			continue
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "1" && resp.Close {
			got503++
		}
		c.Close()
	}
	assert.Equal(t, extra, got503, "every client past MaxConns gets a whole 503 (%d reset)", reset)
	assert.Equal(t, max, serverConns(srv), "rejected clients are never tracked")

	close(release)
	for _, c := range held {
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "ok", body)
	}
	requireNoConns(t, srv, 5*time.Second)
	_, body := get(t, base+"/after")
	assert.Equal(t, "ok", body, "served normally once below the bound")
}

// TestRejectOverloadAfterRequestSent is the usual case: the client sends its
// request at once, before the server's 503 arrives. The server closes the
// socket with the request unread, so the kernel sends RST instead of FIN;
// the 503 is queued before it and Linux still hands it to the client's read.
func TestRejectOverloadAfterRequestSent(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	srv, l, _ := testServer(t, Options{MaxConns: 1, RejectOverload: true}, ListenOptions{Threading: true}, func(c *CGI) {
		<-release
		c.Print("ok")
	})
	defer close(release)
	hold := dial(t, l.Addr().String())
	defer hold.Close()
	io.WriteString(hold, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Eventually(t, func() bool { return serverConns(srv) == 1 }, 5*time.Second, 5*time.Millisecond)
	const n = 50
	lost := 0
	for range n {
		c := dial(t, l.Addr().String())
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: "+strings.Repeat("a", 2000)+"\r\n\r\n")
		time.Sleep(2 * time.Millisecond) // the usual network delay before the client reads
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 503 {
			lost++
		}
		c.Close()
	}
	assert.Zero(t, lost, "clients that lost the 503 to a reset, of %d", n)
}

// TestMaxCallbacksBound counts the callbacks running at once under
// MaxCallbacks: never more than the bound, every request served.
func TestMaxCallbacksBound(t *testing.T) {
	leakCheck(t)
	const max, clients = 3, 24
	var running highWater
	_, _, base := testServer(t, Options{MaxCallbacks: max}, ListenOptions{Threading: true}, func(c *CGI) {
		running.add(1)
		defer running.add(-1)
		time.Sleep(40 * time.Millisecond)
		c.Print("ok")
	})
	var wg sync.WaitGroup
	var ok atomic.Int32
	hc := client()
	defer hc.CloseIdleConnections()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(fmt.Sprintf("%s/%d", base, i))
			if err != nil {
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "ok" {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(clients), ok.Load())
	assert.Equal(t, int64(max), running.max.Load(), "callbacks at once")
}

// TestMaxCallbacksDropInsideCallback: a callback that calls Drop while
// every callback slot is taken (here the only one, its own) must not hang:
// OnError is queued behind the semaphore the caller itself holds.
func TestMaxCallbacksDropInsideCallback(t *testing.T) {
	leakCheck(t)
	onErr := make(chan error, 4)
	srv, l, _ := testServer(t, Options{MaxCallbacks: 1}, ListenOptions{Threading: true,
		OnError: func(c *CGI) { onErr <- c.Err() }}, func(c *CGI) {
		if c.Path() == "/drop" {
			c.Drop()
			return
		}
		c.Print("ok")
	})
	c, br := rawConn(t, l)
	io.WriteString(c, "GET /drop HTTP/1.1\r\nHost: x\r\n\r\n")
	expectClosed(t, br)
	select {
	case err := <-onErr:
		assert.ErrorIs(t, err, ErrDropped)
	case <-time.After(3 * time.Second):
		// Unstick the deadlock so that Close can finish: lend the waiting
		// OnError a slot, then take one back once either side returns it.
		srv.cbSem.Release(1)
		_ = srv.cbSem.Acquire(context.Background(), 1)
		t.Fatal("OnError never ran: the dropping callback deadlocked on the callback semaphore")
	}
	c2, br2 := rawConn(t, l)
	io.WriteString(c2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readResponse(t, br2, "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", body)
	c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	assert.NoError(t, srv.Shutdown(ctx))
}
