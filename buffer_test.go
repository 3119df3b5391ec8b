package httpev

import (
	"bufio"
	"context"
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

func TestFramingChoice(t *testing.T) {
	big := strings.Repeat("x", 60<<10) // past the 50 KB threshold
	_, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		switch c.Path() {
		case "/small":
			c.Print("small")
		case "/under-threshold": // never due before the finish: one piece
			c.Print(big[:40<<10])
		case "/big-slow": // past the threshold while still being produced
			c.Print(big)
			time.Sleep(100 * time.Millisecond)
			c.Print("!")
		case "/flushed":
			c.Print("a")
			require.NoError(t, c.FlushWait(nil))
			c.Print("b")
		case "/own-length":
			c.Header(http.Header{"Content-Length": {"3"}})
			c.Print("abc")
			c.Flush()
		}
	})
	cases := []struct {
		path, proto string
		chunked     bool
		length      string
		body        string
		closes      bool
	}{
		{"/small", "1.1", false, "5", "small", false},
		{"/under-threshold", "1.1", false, fmt.Sprint(40 << 10), big[:40<<10], false},
		{"/big-slow", "1.1", true, "", big + "!", false},
		{"/big-slow", "1.0", false, "", big + "!", true},
		{"/flushed", "1.1", true, "", "ab", false},
		{"/flushed", "1.0", false, "", "ab", true},
		{"/own-length", "1.1", false, "3", "abc", false},
	}
	for _, tc := range cases {
		t.Run(tc.path+" HTTP/"+tc.proto, func(t *testing.T) {
			conn, br := rawConn(t, l)
			fmt.Fprintf(conn, "GET %s HTTP/%s\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", tc.path, tc.proto)
			resp, body := readResponse(t, br, "GET")
			assert.Equal(t, tc.body, body)
			if tc.chunked {
				assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
			} else {
				assert.Empty(t, resp.TransferEncoding)
			}
			assert.Equal(t, tc.length, resp.Header.Get("Content-Length"))
			if tc.closes {
				expectClosed(t, br)
			}
		})
	}
}

func TestBufferHighWaterMark(t *testing.T) {
	errs := make(chan error, 1)
	_, _, base := testServer(t, Options{MaxBuffered: 1000, FlushThreshold: 100000}, ListenOptions{}, func(c *CGI) {
		_, err := c.Write(make([]byte, 900))
		require.NoError(t, err)
		_, err = c.Write(make([]byte, 200))
		errs <- err
	})
	_, body := get(t, base)
	assert.ErrorIs(t, <-errs, ErrBufferFull)
	assert.Len(t, body, 900, "the refused write is not half-applied")
}

func TestFlushWaitCallbackStreams(t *testing.T) {
	// With Threading off a stream is paced by FlushWait callbacks, which run
	// on the loop goroutine after each piece is written.
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Keep()
		n := 0
		var next func(error)
		next = func(err error) {
			if err != nil || n == 3 {
				c.Close()
				return
			}
			n++
			c.Printf("piece %d\n", n)
			require.NoError(t, c.FlushWait(next))
		}
		next(nil)
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readResponse(t, br, "GET")
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	assert.Equal(t, "piece 1\npiece 2\npiece 3\n", body)
}

func TestFlushWaitBlockingRefusedOnLoop(t *testing.T) {
	errs := make(chan error, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Print("x")
		errs <- c.FlushWait(nil)
	})
	get(t, base)
	assert.ErrorIs(t, <-errs, ErrWouldBlock)
}

func TestKeptRequestFinishedLater(t *testing.T) {
	kept := make(chan *CGI, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Keep()
		kept <- c
	})
	go func() {
		c := <-kept
		time.Sleep(50 * time.Millisecond)
		c.Print("long poll answer")
		c.Close()
	}()
	_, body := get(t, base)
	assert.Equal(t, "long poll answer", body)
}

func TestClientGoneCancelsContext(t *testing.T) {
	ctxDone := make(chan error, 1)
	onErr := make(chan error, 1)
	bufErr := make(chan error, 1)
	_, l, _ := testServer(t, Options{}, ListenOptions{Threading: true, OnError: func(c *CGI) { onErr <- c.Err() }},
		func(c *CGI) {
			c.Buffer().OnError(func(err error) { bufErr <- err })
			ctx := c.Context()
			c.Keep()
			go func() {
				<-ctx.Done()
				ctxDone <- ctx.Err()
				c.Close()
			}()
		})
	conn, _ := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	conn.Close()
	select {
	case err := <-ctxDone:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled when the client left")
	}
	assert.ErrorIs(t, <-onErr, ErrClientGone)
	assert.ErrorIs(t, <-bufErr, ErrClientGone)
}

func TestDrop(t *testing.T) {
	onErr := make(chan error, 1)
	_, l, _ := testServer(t, Options{}, ListenOptions{OnError: func(c *CGI) { onErr <- c.Err() }}, func(c *CGI) {
		c.Print("never sent")
		c.Drop()
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Empty(t, b)
	assert.ErrorIs(t, <-onErr, ErrDropped)
}

func TestAttachThreaded(t *testing.T) {
	var out io.Writer = io.Discard
	_, _, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		c.Attach(&out)
		fmt.Fprint(out, "to ", c.Param("n"))
		time.Sleep(time.Millisecond)
		fmt.Fprint(out, " done")
	})
	done := make(chan string, 8)
	for i := range 8 {
		go func() {
			_, body := get(t, fmt.Sprintf("%s/?n=%d", base, i))
			done <- body
		}()
	}
	seen := map[string]bool{}
	for range 8 {
		seen[<-done] = true
	}
	for i := range 8 {
		assert.True(t, seen[fmt.Sprintf("to %d done", i)])
	}
	assert.Equal(t, io.Discard, out, "restored after the callbacks")
}

func TestGiveUpHandle(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		c.Header(http.Header{"Status": {"101 Switching Protocols"}, "Upgrade": {"echo"}, "Connection": {"Upgrade"}})
		nc, err := c.GiveUpHandle()
		require.NoError(t, err)
		go func() {
			defer nc.Close()
			line, _ := bufio.NewReader(nc).ReadString('\n')
			io.WriteString(nc, "echo: "+line)
		}()
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n\r\nearly\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, 101, resp.StatusCode)
	assert.Equal(t, "echo", resp.Header.Get("Upgrade"))
	assert.Equal(t, []string{"Upgrade"}, resp.Header.Values("Connection"), "a 101 keeps the application's Connection field, alone")
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo: early\n", line, "bytes sent before the hand-over reach the new owner")
}

func TestTimer(t *testing.T) {
	got := make(chan time.Duration, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		c.StartTimer()
		time.Sleep(20 * time.Millisecond)
		got <- c.FlushTimer()
	})
	get(t, base)
	assert.GreaterOrEqual(t, <-got, 20*time.Millisecond)
}

func TestNoSpuriousOnErrorAfterCompleteResponse(t *testing.T) {
	var errs atomic.Int32
	_, l, _ := testServer(t, Options{}, ListenOptions{OnError: func(c *CGI) { errs.Add(1) }}, func(c *CGI) {
		_ = c.Context() // starts watching the socket
		c.Print("done")
	})
	for range 300 {
		conn, br := rawConn(t, l)
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		readResponse(t, br, "GET")
		conn.Close() // right after the whole response
	}
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, errs.Load(), "a client closing after a complete response is not an error")
}

func TestEmptyContentTypeSendsNone(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Header(http.Header{"Content-Type": {""}})
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := readResponse(t, br, "GET")
	_, has := resp.Header["Content-Type"]
	assert.False(t, has)
}
