package httpevtest_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev"
	"github.com/httpev/httpev/httpevtest"
)

func newServer(t *testing.T) *httpev.Server {
	srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir(), Logger: quiet()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestListenerClientKeepAlive(t *testing.T) {
	srv := newServer(t)
	ln := httpevtest.NewListener()
	_, err := srv.Listen(ln, func(c *httpev.CGI) {
		c.Printf("%s %s:%s", c.Path(), c.Env("REMOTE_ADDR"), c.Env("REMOTE_PORT"))
	}, httpev.ListenOptions{})
	require.NoError(t, err)

	client := ln.Client()
	defer client.CloseIdleConnections()
	var seen []string
	for _, path := range []string{"/a", "/b"} {
		resp, err := client.Get("http://app.test" + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen = append(seen, string(b))
	}
	require.Len(t, seen, 2)
	assert.Regexp(t, `^/a 127\.0\.0\.1:\d+$`, seen[0])
	assert.Equal(t, seen[0][3:], seen[1][3:], "the second request reused the connection")
}

func TestListenerPipelining(t *testing.T) {
	srv := newServer(t)
	ln := httpevtest.NewListener()
	_, err := srv.Listen(ln, func(c *httpev.CGI) { c.Print(c.Path()) }, httpev.ListenOptions{Threading: true})
	require.NoError(t, err)
	nc, err := ln.Dial()
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(nc, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(nc)
	for _, want := range []string{"/1", "/2"} {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, want, string(b))
	}
}

// TestListenerStopStart checks that a stopped server leaves new
// connections waiting, as in a socket's backlog, until Start.
func TestListenerStopStart(t *testing.T) {
	srv := newServer(t)
	ln := httpevtest.NewListener()
	pl, err := srv.Listen(ln, func(c *httpev.CGI) { c.Print("ok") }, httpev.ListenOptions{})
	require.NoError(t, err)
	pl.Stop()
	got := make(chan string, 1)
	client := ln.Client()
	defer client.CloseIdleConnections()
	go func() {
		resp, err := client.Get("http://app.test/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	select {
	case s := <-got:
		t.Fatalf("served while stopped: %s", s)
	case <-time.After(100 * time.Millisecond):
	}
	pl.Start()
	select {
	case s := <-got:
		assert.Equal(t, "200 ok", s)
	case <-time.After(5 * time.Second):
		t.Fatal("not served after Start")
	}
}

func TestListenerClosed(t *testing.T) {
	ln := httpevtest.NewListener()
	require.NoError(t, ln.Close())
	_, err := ln.Dial()
	assert.Error(t, err)
	_, err = ln.Accept()
	assert.Error(t, err)
}
