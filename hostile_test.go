//go:build unix

package httpev

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hostile clients: slowloris, slow readers, and endless garbage in every
// place the protocol has a length the client controls. The normal suite runs
// 200 of each kind of slow client with short timeouts; the soak run
// (soak_test.go) runs 1,000.

// slowClients opens n connections and sends each the start of a request head.
func slowClients(t testing.TB, addr string, n int, start string) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = io.WriteString(c, start)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	return conns
}

// trickle writes one header byte to every connection each interval, rounds
// times (forever while rounds < 0), until stop is closed. A connection the
// server has closed fails its write and is skipped from then on.
func trickle(conns []net.Conn, interval time.Duration, rounds int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dead := make([]bool, len(conns))
		for r := 0; rounds < 0 || r < rounds; r++ {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			for i, c := range conns {
				if dead[i] {
					continue
				}
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte("a")); err != nil {
					dead[i] = true
				}
			}
		}
	}()
	return &wg
}

// timedGet serves one normal request and reports how long it took.
func timedGet(t testing.TB, url string) time.Duration {
	t.Helper()
	start := time.Now()
	resp, body := get(t, url)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", body)
	return time.Since(start)
}

// readStatus reads the server's answer on a hostile connection: its status
// (0 if none came) and whether the connection then ended (not timed out).
func readStatus(c net.Conn) (status int, closed bool) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	_, err := io.Copy(io.Discard, br)
	return status, err == nil || isResetOrEOF(err)
}

// TestSlowlorisDroppedByTimeout: 200 connections each send part of a head,
// trickle a few more bytes (keeping them alive past Timeout: it is an
// inactivity timeout), then go quiet. A normal client is served promptly
// throughout, and every slow connection gets 408 and is closed.
func TestSlowlorisDroppedByTimeout(t *testing.T) {
	leakCheck(t)
	const n, timeout = 200, 400 * time.Millisecond
	srv, l, base := testServer(t, Options{}, ListenOptions{Timeout: timeout}, func(c *CGI) { c.Print("ok") })
	conns := slowClients(t, l.Addr().String(), n, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	stop := make(chan struct{})
	wg := trickle(conns, timeout/2, 4, stop)
	require.Eventually(t, func() bool { return serverConns(srv) >= n }, 5*time.Second, 5*time.Millisecond)
	var worst time.Duration
	for range 5 {
		worst = max(worst, timedGet(t, base))
	}
	t.Logf("normal GET with %d slowloris connections: worst %v", n, worst)
	// A liveness bound, not a speed figure: far above the milliseconds a
	// GET takes, so that a loaded CI machine does not fail it, and far below
	// the "never" of a server whose slow clients block the others.
	assert.Less(t, worst, 6*time.Second, "a normal client is served while the slow clients hang on")
	wg.Wait()
	close(stop)

	got408, closed := 0, 0
	for _, c := range conns {
		status, ok := readStatus(c)
		if status == 408 {
			got408++
		}
		if ok {
			closed++
		}
		c.Close()
	}
	assert.Equal(t, n, got408, "every slowloris connection is answered 408")
	assert.Equal(t, n, closed, "and closed")
	requireNoConns(t, srv, 5*time.Second)
}

// TestSlowlorisTrickleForever: a slowloris client that sends a header byte
// a little more often than Timeout is never idle long enough for the
// inactivity timeout; the head must still be cut after a bounded time.
func TestSlowlorisTrickleForever(t *testing.T) {
	leakCheck(t)
	const n, timeout = 50, 400 * time.Millisecond
	srv, l, base := testServer(t, Options{}, ListenOptions{Timeout: timeout}, func(c *CGI) { c.Print("ok") })
	conns := slowClients(t, l.Addr().String(), n, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	stop := make(chan struct{})
	wg := trickle(conns, timeout/4, -1, stop)
	defer func() { close(stop); wg.Wait() }()
	timedGet(t, base)
	// Generous: 10× the timeout for a head that never completes.
	assert.Eventually(t, func() bool { return serverConns(srv) == 0 }, 10*timeout, 20*time.Millisecond,
		"slowloris connections trickling faster than Timeout are never dropped")
}

// TestSlowReadersDroppedByWriteTimeout: 200 clients ask for an endless
// streamed response and never read. Each stalls a write until
// WriteTimeout drops it; a normal client is served promptly meanwhile, and
// the server's memory per slow reader stays at one streamed piece.
func TestSlowReadersDroppedByWriteTimeout(t *testing.T) {
	leakCheck(t)
	const n, wto = 200, 500 * time.Millisecond
	var timedOut, otherErr, streaming atomic.Int32
	piece := strings.Repeat("x", 32<<10)
	srv, l, base := testServer(t, Options{WriteTimeout: wto}, ListenOptions{Threading: true}, func(c *CGI) {
		if c.Path() != "/big" {
			c.Print("ok")
			return
		}
		streaming.Add(1)
		c.Buffer().OnError(func(err error) {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				timedOut.Add(1)
			} else {
				otherErr.Add(1)
			}
		})
		sent := 0
		c.Stream(func(c *CGI) bool {
			c.Print(piece)
			sent += len(piece)
			return sent < 256<<20 // never reached: the client does not read
		})
	})
	conns := slowReaders(t, l.Addr().String(), n)
	require.Eventually(t, func() bool { return streaming.Load() == n }, 10*time.Second, 10*time.Millisecond)
	var worst time.Duration
	for range 5 {
		worst = max(worst, timedGet(t, base))
	}
	t.Logf("normal GET with %d slow readers: worst %v", n, worst)
	// A liveness bound, not a speed figure: far above the milliseconds a
	// GET takes, so that a loaded CI machine does not fail it, and far below
	// the "never" of a server whose slow clients block the others.
	assert.Less(t, worst, 6*time.Second, "a normal client is served while the slow clients hang on")
	requireNoConns(t, srv, 15*time.Second)
	assert.Equal(t, int32(n), timedOut.Load(), "every slow reader is dropped by WriteTimeout (other errors: %d)", otherErr.Load())
	for _, c := range conns {
		c.Close()
	}
}

// slowReaders opens n connections with a small receive buffer, asks each
// for /big and never reads the answer.
func slowReaders(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	d := net.Dialer{Control: smallRecvBuf}
	for range n {
		c, err := d.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		conns = append(conns, c)
	}
	return conns
}

// smallRecvBuf shrinks a client socket's receive buffer before it connects,
// so the server's writes stall after a few KB instead of filling megabytes
// of loopback buffers.
func smallRecvBuf(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	if err != nil {
		return err
	}
	return serr
}

// garbage is an endless source: prefix, then repeated filler.
type garbage struct {
	prefix string
	filler byte
	line   string // when set, repeated instead of filler
}

// sendGarbage writes g to c until total bytes or the server cuts the
// connection; it reports how much was sent. It allocates one buffer.
func sendGarbage(c net.Conn, g garbage, total int) int {
	buf := make([]byte, 64<<10)
	if g.line != "" {
		for i := 0; i+len(g.line) <= len(buf); i += len(g.line) {
			copy(buf[i:], g.line)
		}
		buf = buf[:len(buf)/len(g.line)*len(g.line)]
	} else {
		for i := range buf {
			buf[i] = g.filler
		}
	}
	if len(buf) == 0 {
		panic("garbage line longer than the write buffer")
	}
	_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	n, err := io.WriteString(c, g.prefix)
	for err == nil && n < total {
		var m int
		m, err = c.Write(buf)
		n += m
	}
	return n
}

// memUse is what a stretch of work cost the heap: bytes allocated and the
// peak of HeapInuse above where it started.
type memUse struct{ alloc, peak uint64 }

func (m memUse) String() string {
	return fmt.Sprintf("allocated %d KB, heap peak +%d KB", m.alloc>>10, m.peak>>10)
}

// measureMem runs f, sampling the heap every few milliseconds meanwhile.
func measureMem(f func()) memUse {
	var before, now runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak uint64
	sample := func() {
		runtime.ReadMemStats(&now)
		if now.HeapInuse > before.HeapInuse && now.HeapInuse-before.HeapInuse > peak {
			peak = now.HeapInuse - before.HeapInuse
		}
	}
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				sample()
			}
		}
	}()
	f()
	close(done)
	<-sampled
	sample()
	return memUse{alloc: now.TotalAlloc - before.TotalAlloc, peak: peak}
}

// assertBounded checks the work stayed within limit bytes. The allocation
// count is not checked under the race detector, whose sync.Pool drops a
// share of what is put back on purpose, so pooled buffers get reallocated;
// the heap peak still shows they are not kept.
func (m memUse) assertBounded(t testing.TB, limit uint64) {
	t.Helper()
	if !raceEnabled() {
		assert.Less(t, m.alloc, limit, "allocations bounded")
	}
	assert.Less(t, m.peak, 2*limit, "heap bounded")
}

// TestEndlessInputCutAtLimit sends up to 50 MB of garbage into each field
// whose length the client controls. Each is cut at its limit with the
// right status, OnError fires where a request object exists, and the
// server's allocations stay a small constant, nowhere near the bytes sent.
func TestEndlessInputCutAtLimit(t *testing.T) {
	const total = 50 << 20
	const chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
	const mp = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n" +
		"Content-Length: 999999999999\r\n\r\n"
	cases := []struct {
		name    string
		g       garbage
		status  int
		onError bool
	}{
		{"request line", garbage{prefix: "GET /", filler: 'a'}, 414, false},
		{"method", garbage{filler: 'A'}, 501, false},
		{"leading empty lines", garbage{line: "\r\n"}, 400, false},
		{"header value", garbage{prefix: "GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ", filler: 'a'}, 431, false},
		{"header name", garbage{prefix: "GET / HTTP/1.1\r\nHost: x\r\n", filler: 'a'}, 431, false},
		{"header lines", garbage{prefix: "GET / HTTP/1.1\r\nHost: x\r\n", line: "X-A: 1\r\n"}, 431, false},
		{"chunk-size line", garbage{prefix: chunked, filler: '0'}, 400, true},
		{"chunk extension", garbage{prefix: chunked + "5;ext=", filler: 'a'}, 400, true},
		{"tiny chunks with big extensions", garbage{prefix: chunked, line: "1;e=" + strings.Repeat("a", 1000) + "\r\nx\r\n"}, 400, true},
		{"trailer section", garbage{prefix: chunked + "0\r\n", line: "X-T: 1\r\n"}, 431, true},
		{"chunked form body", garbage{prefix: chunked, line: "1000\r\n" + strings.Repeat("a", 0x1000) + "\r\n"}, 413, true},
		{"multipart part header", garbage{prefix: mp + "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\nX: ", filler: 'a'}, 413, true},
		{"multipart part header lines", garbage{prefix: mp + "--xyz\r\n", line: "X-P: 1\r\n"}, 413, true},
		{"multipart field value", garbage{prefix: mp + "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n", filler: 'a'}, 413, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			var onErr atomic.Int32
			_, l, _ := testServer(t, Options{}, ListenOptions{OnError: func(c *CGI) { onErr.Add(1) }},
				func(c *CGI) { c.Print("served") })
			c, err := net.Dial("tcp", l.Addr().String())
			require.NoError(t, err)
			defer c.Close()

			var sent, status int
			var closed bool
			m := measureMem(func() {
				sent = sendGarbage(c, tc.g, total)
				status, closed = readStatus(c)
			})
			t.Logf("sent %d KB before the cut; %s", sent>>10, m)

			// The server answers at the limit and closes. (A lingering close,
			// which discards input for a moment so the answer is not lost to
			// a reset, may let all of it in; what counts is the answer, the
			// close and the memory.)
			assert.Equal(t, tc.status, status)
			assert.True(t, closed, "connection closed by the server")
			m.assertBounded(t, 4<<20)
			if tc.onError {
				assert.Eventually(t, func() bool { return onErr.Load() == 1 }, 2*time.Second, 5*time.Millisecond, "OnError fires")
			} else {
				assert.Zero(t, onErr.Load(), "no request object, no OnError")
			}
		})
	}
}

// TestEndlessBodiesStreamWithBoundedMemory: bodies the server is meant to
// take in full (an upload with no size limit, a raw body the callback reads)
// flow through with constant memory however long they are.
func TestEndlessBodiesStreamWithBoundedMemory(t *testing.T) {
	const total = 50 << 20
	cases := []struct {
		name   string
		prefix string
		lo     ListenOptions
	}{
		{"multipart preamble", "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n" +
			"Content-Length: 999999999999\r\n\r\n", ListenOptions{}},
		{"multipart file", "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n" +
			"Content-Length: 999999999999\r\n\r\n--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n", ListenOptions{}},
		{"raw body read by the callback", "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n", ListenOptions{Threading: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			srv, l, _ := testServer(t, Options{TmpPath: tmp}, tc.lo, func(c *CGI) {
				_, _ = io.Copy(io.Discard, c.Body())
			})
			c, err := net.Dial("tcp", l.Addr().String())
			require.NoError(t, err)
			var sent int
			m := measureMem(func() { sent = sendGarbage(c, garbage{prefix: tc.prefix, filler: 'a'}, total) })
			t.Logf("sent %d MB; %s", sent>>20, m)
			assert.GreaterOrEqual(t, sent, total, "the body keeps flowing")
			m.assertBounded(t, 4<<20)
			c.Close()
			requireNoConns(t, srv, 5*time.Second)
			assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
		})
	}
}

// TestTooLargeFormToHTTPClient: a Go client posting a form body over
// MaxFormBody must be told 413, though the server answers before reading
// the body and closes the connection with the body unread.
func TestTooLargeFormToHTTPClient(t *testing.T) {
	leakCheck(t)
	_, _, base := testServer(t, Options{MaxFormBody: 1 << 10}, ListenOptions{}, func(c *CGI) { c.Print("served") })
	body := strings.Repeat("a=b&", 4<<20/4)
	hc := client()
	defer hc.CloseIdleConnections()
	for i := range 5 {
		resp, err := hc.Post(base, "application/x-www-form-urlencoded", strings.NewReader(body))
		if !assert.NoError(t, err, "attempt %d: the client lost the 413: %v", i, err) {
			continue
		}
		assert.Equal(t, 413, resp.StatusCode)
		resp.Body.Close()
	}
}

// TestPipelineFloodNeverRead: a client pipelines requests without end and
// never reads a response. The server answers one request at a time, so once
// the client's socket buffers are full it stalls on a write, WriteTimeout
// drops it, and memory stays bounded however much the client sent.
func TestPipelineFloodNeverRead(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			const wto = 300 * time.Millisecond
			var served atomic.Int64
			srv, l, base := testServer(t, Options{WriteTimeout: wto}, ListenOptions{Threading: threading}, func(c *CGI) {
				served.Add(1)
				c.Print(strings.Repeat("r", 1000))
			})
			d := net.Dialer{Control: smallRecvBuf}
			c, err := d.Dial("tcp", l.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			var sent int
			m := measureMem(func() {
				sent = sendGarbage(c, garbage{line: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, 50<<20)
			})
			t.Logf("sent %d KB of pipelined requests, %d answered before the drop; %s", sent>>10, served.Load(), m)
			assert.Less(t, sent, 50<<20, "the server stopped taking requests")
			// Allocations grow with the requests answered (a few KB each);
			// what must stay bounded is what is held at once.
			assert.Less(t, m.peak, uint64(8<<20), "heap bounded")
			start := time.Now()
			for serverConns(srv) > 0 && time.Since(start) < 5*time.Second {
				time.Sleep(10 * time.Millisecond)
			}
			assert.Zero(t, serverConns(srv), "dropped by WriteTimeout")
			resp, _ := get(t, base)
			assert.Equal(t, 200, resp.StatusCode, "others are served")
		})
	}
}

// isResetOrEOF reports the ways a connection the server cut looks to a client.
func isResetOrEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
