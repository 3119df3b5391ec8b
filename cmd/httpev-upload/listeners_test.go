//go:build unix

package main

import (
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcsAndTrustedProxiesFlags(t *testing.T) {
	cfg, err := parseConfig(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1, cfg.procs, "one process unless asked")
	assert.False(t, cfg.backend)

	cfg, err = parseConfig([]string{"-procs", "4", "-trusted-proxies", "127.0.0.1, 10.1.2.3/8,::1"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 4, cfg.procs)
	assert.True(t, cfg.backend, "-trusted-proxies implies -backend")
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}, cfg.trusted)

	for _, args := range [][]string{
		{"-procs", "0"}, {"-procs", "-2"}, {"-trusted-proxies", "nginx"}, {"-trusted-proxies", ","},
	} {
		_, err := parseConfig(args, io.Discard)
		assert.Error(t, err, "%v", args)
	}
}

func TestSystemdFDs(t *testing.T) {
	for _, tc := range []struct {
		pid, fds string
		want     int
		err      bool
	}{
		{"", "", 0, false},
		{"42", "", 0, false},
		{"42", "2", 2, false},
		{"43", "2", 0, false}, // meant for another process: not ours
		{"x", "2", 0, true},
		{"42", "two", 0, true},
		{"42", "-1", 0, true},
	} {
		n, err := systemdFDs(tc.pid, tc.fds, 42)
		if tc.err {
			assert.Error(t, err, "%+v", tc)
			continue
		}
		require.NoError(t, err, "%+v", tc)
		assert.Equal(t, tc.want, n, "%+v", tc)
	}
}

// TestFileListeners passes a listening socket through a descriptor number
// and a worker's way of reading it back, and refuses what is not one.
func TestFileListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	files, err := listenerFiles([]net.Listener{ln})
	require.NoError(t, err)
	defer closeFiles(files)
	// fileListeners takes over the descriptors it reads, as a worker does
	// with those it inherited: give it a number of its own.
	fd, err := syscall.Dup(int(files[0].Fd()))
	require.NoError(t, err)
	lns, err := fileListeners(fd, 1)
	require.NoError(t, err)
	defer closeAll(lns)
	assert.Equal(t, ln.Addr().String(), lns[0].Addr().String())
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := lns[0].Accept()
	require.NoError(t, err, "the inherited copy accepts from the same socket")
	c.Close()

	notSocket, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer notSocket.Close()
	fd, err = syscall.Dup(int(notSocket.Fd()))
	require.NoError(t, err)
	_, err = fileListeners(fd, 1)
	assert.ErrorContains(t, err, "not a listening socket")
}
