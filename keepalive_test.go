//go:build unix

package httpev

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// soKeepAlive reads SO_KEEPALIVE of the request's connection.
func soKeepAlive(t *testing.T, c *CGI) int {
	rc, err := c.cn.nc.(syscall.Conn).SyscallConn() // the socket as it is, wherever it is served
	require.NoError(t, err)
	v := -1
	require.NoError(t, rc.Control(func(fd uintptr) {
		v, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}))
	require.NoError(t, err)
	return v
}

// TestKeepAliveProbesOnlyForKeptRequests: connections on a listener the
// server opened carry no TCP keep-alive probes (the timeouts cover them)
// until a request outlives its callback with Keep, which turns them on.
func TestKeepAliveProbesOnlyForKeptRequests(t *testing.T) {
	type probe struct{ before, after int }
	got := make(chan probe, 2)
	_, _, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		p := probe{before: soKeepAlive(t, c)}
		if c.Path() == "/keep" {
			c.Keep()
			p.after = soKeepAlive(t, c)
			go func() { c.Print("kept"); c.Close() }()
		} else {
			p.after = soKeepAlive(t, c)
			c.Print("plain")
		}
		got <- p
	})
	_, body := get(t, base+"/")
	assert.Equal(t, "plain", body)
	assert.Equal(t, probe{0, 0}, <-got, "an ordinary request: no probes")
	_, body = get(t, base+"/keep")
	assert.Equal(t, "kept", body)
	p := <-got
	assert.NotZero(t, p.after, "a kept request turns probes on")
}
