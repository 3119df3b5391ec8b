package httpev

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/poller"
	"github.com/httpev/httpev/internal/rawfd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRawAcceptAddresses: a connection accepted outside Go's netpoller
// (internal/rawfd) reports the same addresses as one Go accepted, for
// IPv4, IPv6 and a listener on every interface (whose local address comes
// from getsockname), and its first request runs on the poller.
func TestRawAcceptAddresses(t *testing.T) {
	ipv6 := true
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		ln.Close()
	}
	cases := []struct{ listen, dial string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{":0", "127.0.0.1"},
	}
	if ipv6 {
		cases = append(cases, struct{ listen, dial string }{"[::1]:0", "::1"}, struct{ listen, dial string }{":0", "::1"})
	} else {
		t.Log("no IPv6 loopback on this machine: IPv4 only")
	}
	for _, tc := range cases {
		t.Run(tc.listen+"/"+tc.dial, func(t *testing.T) {
			srv, err := New(Options{TmpPath: t.TempDir()})
			require.NoError(t, err)
			t.Cleanup(func() { srv.Close() })
			// No handoff, however slow the race detector makes the callback.
			tunePoller(srv, func(t *poller.Tuning) { t.Tick = time.Hour })
			env := make(chan [5]string, 1)
			l, err := srv.Listen(tc.listen, func(c *CGI) {
				env <- [5]string{c.Env("REMOTE_ADDR"), c.Env("REMOTE_PORT"), c.Env("SERVER_ADDR"), c.Env("SERVER_PORT"), fmt.Sprint(onPoller(c))}
				c.Print("ok")
			}, ListenOptions{Threading: true})
			require.NoError(t, err)
			_, ok := l.ln.(*rawfd.Listener)
			require.True(t, ok, "a Threading-on TCP listener accepts outside Go's netpoller")
			port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
			c, err := net.Dial("tcp", net.JoinHostPort(tc.dial, port))
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			require.NoError(t, err)
			got := <-env
			client := c.LocalAddr().(*net.TCPAddr)
			assert.Equal(t, [5]string{client.IP.String(), strconv.Itoa(client.Port), tc.dial, port, "true"}, got)
		})
	}
}

// TestRawAcceptOnCallersListener: a listener the caller opened (inherited
// from systemd or a pre-forking parent, net.FileListener) is accepted from
// outside Go's netpoller like one Listen opens, and its requests are served
// on the poller.
func TestRawAcceptOnCallersListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	inherited, err := net.FileListener(f) // as a worker or a socket-activated service gets it
	f.Close()
	ln.Close()
	require.NoError(t, err)
	srv, err := New(Options{TmpPath: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	tunePoller(srv, func(t *poller.Tuning) { t.Tick = time.Hour }) // no handoff, however slow the race detector is
	served := make(chan bool, 1)
	l, err := srv.Listen(inherited, func(c *CGI) {
		served <- onPoller(c)
		c.Print("ok")
	}, ListenOptions{Threading: true})
	require.NoError(t, err)
	_, ok := l.ln.(*rawfd.Listener)
	require.True(t, ok, "the caller's TCP listener is accepted outside Go's netpoller")
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	assert.True(t, <-served, "served on the poller")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	require.NoError(t, srv.Close())
	_, err = net.DialTimeout("tcp", l.Addr().String(), time.Second)
	assert.Error(t, err, "Close closes the caller's listener, both descriptors")
}
