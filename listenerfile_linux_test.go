package httpev

import (
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFileKeepsSocketNonBlocking: passing l.File() to a child (os/exec
// calls its Fd) must not turn the shared listening socket blocking, or the
// parent's own accept would block its loop once the queue is empty
// (net.TCPListener.File's copy does that). Both threading modes, both
// accept paths.
func TestFileKeepsSocketNonBlocking(t *testing.T) {
	for _, threading := range []bool{false, true} {
		_, l, base := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) { c.Print("ok") })
		f, err := l.File()
		require.NoError(t, err)
		_ = f.Fd() // what exec.Cmd does with ExtraFiles
		assert.True(t, nonBlocking(t, l.ln), "threading=%v: the listening socket stays non-blocking", threading)

		// The copy is a working listener too, as a child would use it.
		child, err := net.FileListener(f)
		require.NoError(t, err)
		f.Close()
		child.Close()
		resp, err := http.Get(base)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "ok", string(body))
	}
}

func nonBlocking(t *testing.T, ln net.Listener) bool {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	var flags uintptr
	var errno syscall.Errno
	require.NoError(t, rc.Control(func(fd uintptr) {
		flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	}))
	require.Zero(t, errno)
	return flags&syscall.O_NONBLOCK != 0
}
