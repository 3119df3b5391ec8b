package httpev

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func asyncGet(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"
}

// TestAsyncWaitsOffTheLoop: a callback's Async function waits without
// holding up the loop goroutine (Threading off: another connection is
// served meanwhile), answers, and the connection carries the next request.
func TestAsyncWaitsOffTheLoop(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			release := make(chan struct{})
			var waiting atomic.Int32
			_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				switch c.Path() {
				case "/wait":
					c.Print("a:")
					c.Async(func() {
						waiting.Add(1)
						<-release
						c.Print("after " + c.Param("n"))
					})
				default:
					c.Print("quick")
				}
			})
			conn, br := rawConn(t, l)
			io.WriteString(conn, asyncGet("/wait?n=1"))
			require.Eventually(t, func() bool { return waiting.Load() == 1 }, 5*time.Second, time.Millisecond)

			other, obr := rawConn(t, l)
			io.WriteString(other, asyncGet("/"))
			_, body := readResponse(t, obr, "GET")
			assert.Equal(t, "quick", body, "served while the Async function waits")

			close(release)
			resp, body := readResponse(t, br, "GET")
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "a:after 1", body)

			io.WriteString(conn, asyncGet("/"))
			_, body = readResponse(t, br, "GET")
			assert.Equal(t, "quick", body, "the connection carries the next request")
		})
	}
}

// TestAsyncOrderAndFlush: several Async calls run in order after the
// callback, output flushed by one reaches the client while the next still
// waits, and the request ends when the last returns.
func TestAsyncOrderAndFlush(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			release := make(chan struct{})
			_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				c.Async(func() {
					c.Print("first\n")
					c.Flush()
				})
				c.Async(func() {
					<-release
					c.Print("second\n")
				})
				c.Print("callback\n")
			})
			conn, br := rawConn(t, l)
			io.WriteString(conn, asyncGet("/"))
			resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, "chunked", strings.Join(resp.TransferEncoding, ","))
			cr := bufio.NewReader(resp.Body)
			line, err := cr.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "callback\n", line)
			line, err = cr.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "first\n", line, "flushed before the second function ends")
			close(release)
			rest, err := io.ReadAll(cr)
			require.NoError(t, err)
			assert.Equal(t, "second\n", string(rest))
		})
	}
}

// TestAsyncPanic: a panic in an Async function answers 500 and closes the
// connection, as one in a callback does; the next request on it gets
// nothing.
func TestAsyncPanic(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			var ran atomic.Int32
			srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				ran.Add(1)
				c.Async(func() { panic("boom") })
				c.Async(func() { t.Error("a function after a panic ran") })
			})
			conn, br := rawConn(t, l)
			io.WriteString(conn, asyncGet("/")+asyncGet("/next"))
			resp, _ := readResponse(t, br, "GET")
			assert.Equal(t, 500, resp.StatusCode)
			assert.True(t, resp.Close, "the 500 says Connection: close")
			expectClosed(t, br)
			assert.EqualValues(t, 1, ran.Load(), "nothing after the 500")
			assert.EqualValues(t, 1, srv.Stats().Dropped.Panic)
		})
	}
}

// TestAsyncAfterCallback: Async called once the callback has returned (a
// kept request answered from another goroutine) runs fn on a goroutine of
// its own and finishes the request when it returns.
func TestAsyncAfterCallback(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			var wg sync.WaitGroup
			_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				c.Keep()
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(10 * time.Millisecond) // the callback has returned
					c.Async(func() { c.Print("later") })
				}()
			})
			conn, br := rawConn(t, l)
			for range 2 {
				io.WriteString(conn, asyncGet("/"))
				_, body := readResponse(t, br, "GET")
				assert.Equal(t, "later", body)
			}
			wg.Wait()
		})
	}
}

// TestAsyncAfterFlush: a callback that flushed output and then called
// Async gets its functions run, in both threading modes, many times over.
// (The pump checks for them before every wait because the flush's wake-up
// and the callback's end may coalesce; this test does not force that
// interleaving, which neither GOMAXPROCS=1 nor 400 runs produced.)
func TestAsyncAfterFlush(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				c.Print("head ")
				c.Flush()
				c.Async(func() { c.Print("tail") })
			})
			conn, br := rawConn(t, l)
			for i := range 200 {
				io.WriteString(conn, asyncGet("/"))
				_, body := readResponse(t, br, "GET")
				require.Equal(t, "head tail", body, "request %d", i)
			}
		})
	}
}
