package httpev

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPipeliningInOrder(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		if c.Path() == "/slow" {
			time.Sleep(50 * time.Millisecond)
		}
		c.Print(c.Method(), " ", c.Path())
	})
	conn, br := rawConn(t, l)
	_, err := io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"+
		"PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n"+
		"DELETE /thing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	require.NoError(t, err)
	for _, want := range []string{"GET /slow", "PURGE /cache", "DELETE /thing"} {
		_, body := readResponse(t, br, "GET")
		assert.Equal(t, want, body)
	}
}

func TestHTTP10(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) { c.Print("ok") })
	t.Run("closes by default", func(t *testing.T) {
		conn, br := rawConn(t, l)
		io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n")
		resp, body := readResponse(t, br, "GET")
		assert.Equal(t, "ok", body)
		assert.Equal(t, "HTTP/1.0", resp.Proto)
		expectClosed(t, br)
	})
	t.Run("keep-alive", func(t *testing.T) {
		conn, br := rawConn(t, l)
		for range 2 {
			io.WriteString(conn, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := readResponse(t, br, "GET")
			assert.Equal(t, "ok", body)
			assert.Equal(t, "keep-alive", resp.Header.Get("Connection"))
		}
	})
}

func TestHeadHasNoBody(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) { c.Print("twelve bytes") })
	conn, br := rawConn(t, l)
	io.WriteString(conn, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readResponse(t, br, "HEAD")
	assert.Equal(t, "12", resp.Header.Get("Content-Length"))
	assert.Empty(t, body)
	_, body = readResponse(t, br, "GET")
	assert.Equal(t, "twelve bytes", body)
}

func TestExpectContinue(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		b, _ := io.ReadAll(c.Body())
		c.Printf("got %s", b)
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 100 Continue\r\n", line)
	line, _ = br.ReadString('\n')
	assert.Equal(t, "\r\n", line)
	io.WriteString(conn, "hello")
	_, body := readResponse(t, br, "PUT")
	assert.Equal(t, "got hello", body)
}

func TestMalformedRequests(t *testing.T) {
	var errors atomic.Int32
	_, l, _ := testServer(t, Options{MaxFormBody: 100}, ListenOptions{OnError: func(c *CGI) { errors.Add(1) }},
		func(c *CGI) { c.Print("served") })
	long := strings.Repeat("a", 5000)
	cases := []struct {
		name, req string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"conflicting CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", 400},
		{"control char", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"bad version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"chunked not last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"long URL", "GET /" + long + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"long header name", "GET / HTTP/1.1\r\nHost: x\r\n" + long + ": 1\r\n\r\n", 431},
		{"long header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 101) + "\r\n", 431},
		{"too many query fields", "GET /?" + strings.Repeat("a&", 1100) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"form body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 101\r\n\r\n", 413},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, br := rawConn(t, l)
			_, err := io.WriteString(conn, tc.req)
			require.NoError(t, err)
			resp, _ := readResponse(t, br, "GET")
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.True(t, resp.Close, "Connection: close")
			expectClosed(t, br)
		})
	}
	assert.Equal(t, int32(3), errors.Load(), "OnError fires for the failures that have a request object (query, form size, chunk)")
}

func TestRequestTimeout(t *testing.T) {
	var served atomic.Int32
	_, l, _ := testServer(t, Options{}, ListenOptions{Timeout: 200 * time.Millisecond}, func(c *CGI) {
		served.Add(1)
		c.Print("ok")
	})
	t.Run("slow head is dropped with 408", func(t *testing.T) {
		conn, br := rawConn(t, l)
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost")
		resp, _ := readResponse(t, br, "GET")
		assert.Equal(t, 408, resp.StatusCode)
		expectClosed(t, br)
	})
	t.Run("silent connection is closed", func(t *testing.T) {
		_, br := rawConn(t, l)
		start := time.Now()
		expectClosed(t, br)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("slow body is dropped", func(t *testing.T) {
		conn, br := rawConn(t, l)
		io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\na=1")
		resp, _ := readResponse(t, br, "GET")
		assert.Equal(t, 408, resp.StatusCode)
	})
	assert.Zero(t, served.Load())
}

func TestTimeoutSparesReceivedRequests(t *testing.T) {
	_, _, base := testServer(t, Options{}, ListenOptions{Timeout: 100 * time.Millisecond, Threading: true}, func(c *CGI) {
		time.Sleep(400 * time.Millisecond) // far past Timeout: the request is fully received
		c.Print("late but fine")
	})
	_, body := get(t, base)
	assert.Equal(t, "late but fine", body)
}

func TestIdleTimeout(t *testing.T) {
	_, l, _ := testServer(t, Options{IdleTimeout: 150 * time.Millisecond}, ListenOptions{}, func(c *CGI) { c.Print("ok") })
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponse(t, br, "GET")
	start := time.Now()
	expectClosed(t, br)
	assert.Less(t, time.Since(start), 3*time.Second)
}

// TestThreadingModes checks that Threading off never overlaps callbacks and
// Threading on does.
func TestThreadingModes(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			var inFlight, maxInFlight atomic.Int32
			_, _, base := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				n := inFlight.Add(1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(30 * time.Millisecond)
				inFlight.Add(-1)
				c.Print("ok")
			})
			done := make(chan struct{})
			for range 6 {
				go func() {
					defer func() { done <- struct{}{} }()
					get(t, base)
				}()
			}
			for range 6 {
				<-done
			}
			if threading {
				assert.Greater(t, maxInFlight.Load(), int32(1))
			} else {
				assert.Equal(t, int32(1), maxInFlight.Load())
			}
		})
	}
}

func TestPanicAnswers500(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			_, _, base := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				if c.Path() == "/boom" {
					c.Print("partial")
					panic("boom")
				}
				c.Print("alive")
			})
			resp, body := get(t, base+"/boom")
			assert.Equal(t, 500, resp.StatusCode)
			assert.Equal(t, "500 Internal Server Error\n", body)
			assert.True(t, resp.Close, "the engine's error answers close")
			_, body = get(t, base+"/")
			assert.Equal(t, "alive", body)
		})
	}
}

func TestPanicAfterFlushCutsResponse(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		c.Print("first")
		require.NoError(t, c.FlushWait(nil))
		panic("late boom")
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	assert.Error(t, err, "a chunked body without its last chunk tells the client it was cut")
}

// TestIdleTimeoutDisabled: with IdleTimeout negative a keep-alive
// connection waits for its next request however long, also when it does
// not park; the last request's Timeout deadline must not carry over.
func TestIdleTimeoutDisabled(t *testing.T) {
	_, l, _ := testServer(t, Options{IdleTimeout: -1, NoIdlePark: true}, ListenOptions{Timeout: 200 * time.Millisecond},
		func(c *CGI) { c.Print("ok") })
	conn, br := rawConn(t, l)
	for range 2 {
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := readResponse(t, br, "GET")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "ok", body)
		time.Sleep(600 * time.Millisecond) // three times Timeout
	}
}
