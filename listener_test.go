package httpev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListenAddressForms(t *testing.T) {
	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) { c.Print("first") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l2, err := srv.Listen(ln, func(c *CGI) { c.Print("from listener") }, ListenOptions{})
	require.NoError(t, err)
	_, body := get(t, "http://"+l2.Addr().String())
	assert.Equal(t, "from listener", body)

	_, err = srv.Listen(l2.Addr().String(), func(c *CGI) {}, ListenOptions{})
	assert.ErrorIs(t, err, ErrAlreadyListening)
	_, err = srv.Listen(3.5, func(c *CGI) {}, ListenOptions{})
	assert.Error(t, err)

	// a port number listens on every interface
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	l3, err := srv.Listen(port, func(c *CGI) { c.Print("by port") }, ListenOptions{})
	require.NoError(t, err)
	_, body = get(t, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	assert.Equal(t, "by port", body)
	require.NoError(t, l3.Close())
}

// TestStopStart and TestListenerReopensAfterFailure run with Threading off
// and on: on Linux a Threading-on listener accepts through a descriptor of
// its own (internal/rawfd).
func TestStopStart(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			_, l, base := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) { c.Print("ok") })
			_, body := get(t, base)
			require.Equal(t, "ok", body)
			l.Stop()
			got := make(chan string, 1)
			go func() {
				_, body := get(t, base)
				got <- body
			}()
			select {
			case <-got:
				t.Fatal("served while stopped")
			case <-time.After(300 * time.Millisecond):
			}
			l.Start()
			select {
			case body := <-got:
				assert.Equal(t, "ok", body, "the queued client is served after Start")
			case <-time.After(5 * time.Second):
				t.Fatal("queued client not served after Start")
			}
		})
	}
}

func TestListenerReopensAfterFailure(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			_, l, base := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) { c.Print("ok") })
			l.mu.Lock()
			ln := l.ln
			l.mu.Unlock()
			ln.Close() // not through the API: Accept fails for good
			require.Eventually(t, func() bool {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.ln != ln
			}, 5*time.Second, 10*time.Millisecond)
			_, body := get(t, base)
			assert.Equal(t, "ok", body)
		})
	}
}

// TestListenerGivesUpAfterMaxRetries: when its socket fails and its
// address cannot be listened on again, a listener retries MaxRetries times
// in a row, then gives up with an error in the log; the server still shuts
// down cleanly.
func TestListenerGivesUpAfterMaxRetries(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			var logs lockedBuffer
			srv, l, _ := testServer(t, Options{MaxRetries: 2, Logger: logs.logger()}, ListenOptions{Threading: threading}, func(c *CGI) { c.Print("ok") })
			addr := l.Addr().String()
			// Under the listener's lock, so the re-open cannot win the race:
			// the socket fails for good and another takes its address.
			l.mu.Lock()
			l.ln.Close()
			squatter, err := net.Listen("tcp", addr)
			l.mu.Unlock()
			require.NoError(t, err)
			defer squatter.Close()
			require.Eventually(t, func() bool { return strings.Contains(logs.String(), "giving up") }, 10*time.Second, 10*time.Millisecond)
			out := logs.String()
			assert.Equal(t, 2, strings.Count(out, "re-open failed"), out)
			assert.Contains(t, out, "retries=2")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, srv.Shutdown(ctx))
		})
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	started := make(chan struct{})
	srv, l, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		c.Print("finished")
	})
	idle, _ := rawConn(t, l) // an idle connection must not hold Shutdown up
	_ = idle
	got := make(chan string, 1)
	go func() {
		_, body := get(t, base)
		got <- body
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	assert.Equal(t, "finished", <-got)
	_, err := net.Dial("tcp", l.Addr().String())
	assert.Error(t, err, "no longer listening")
	_, err = srv.Listen("127.0.0.1:0", func(*CGI) {}, ListenOptions{})
	assert.ErrorIs(t, err, ErrServerClosed)
}

func TestCloseCutsKeptRequests(t *testing.T) {
	onErr := make(chan error, 1)
	srv, err := New(Options{TmpPath: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	l, err := srv.Listen("127.0.0.1:0", func(c *CGI) { c.Keep() },
		ListenOptions{OnError: func(c *CGI) { onErr <- c.Err() }})
	require.NoError(t, err)
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, srv.Close())
	expectClosed(t, br)
	select {
	case err := <-onErr:
		assert.Error(t, err)
	case <-time.After(time.Second):
	}
}

func TestMaxConns(t *testing.T) {
	release := make(chan struct{})
	srv, _, base := testServer(t, Options{MaxConns: 2}, ListenOptions{Threading: true}, func(c *CGI) {
		if c.Path() == "/hold" {
			<-release
		}
		c.Print("ok")
	})
	held := make(chan string, 2)
	for range 2 {
		go func() { _, b := get(t, base+"/hold"); held <- b }()
	}
	require.Eventually(t, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 2
	}, 5*time.Second, 5*time.Millisecond)
	third := make(chan string, 1)
	go func() { _, b := get(t, base+"/"); third <- b }()
	select {
	case <-third:
		t.Fatal("a third connection was served past MaxConns")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	assert.Equal(t, "ok", <-held)
	assert.Equal(t, "ok", <-held)
	assert.Equal(t, "ok", <-third, "the waiting client is served once a slot frees")
}

func TestRejectOverload(t *testing.T) {
	release := make(chan struct{})
	_, l, base := testServer(t, Options{MaxConns: 1, RejectOverload: true}, ListenOptions{Threading: true}, func(c *CGI) {
		<-release
		c.Print("ok")
	})
	held := make(chan string, 1)
	go func() {
		resp, err := client().Get(base)
		if err != nil {
			held <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		held <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := readResponse(t, br, "GET")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	close(release)
	assert.Equal(t, "ok", <-held, "the connection holding the slot is served normally")
}

func TestRegisterOnShutdownEndsLongPolls(t *testing.T) {
	polls := make(chan *CGI, 1)
	srv, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Keep()
		polls <- c
	})
	srv.RegisterOnShutdown(func() {
		c := <-polls
		c.Print("server going away")
		c.Close()
	})
	got := make(chan string, 1)
	go func() { _, b := get(t, base); got <- b }()
	require.Eventually(t, func() bool { return len(polls) == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	assert.Equal(t, "server going away", <-got)
}
