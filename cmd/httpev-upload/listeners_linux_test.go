package main

import (
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWorkerFilesKeepSocketNonBlocking: starting a worker (os/exec calls
// Fd on its ExtraFiles) must leave the shared listening socket
// non-blocking; with net's File copies it turned blocking, and the
// workers already accepting from it could block their loop until the
// next connection (seen as a survivor's 10 s stall when a worker was
// restarted under load).
func TestWorkerFilesKeepSocketNonBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	files, err := listenerFiles([]net.Listener{ln})
	require.NoError(t, err)
	defer closeFiles(files)
	_ = files[0].Fd()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	require.NoError(t, err)
	var flags uintptr
	require.NoError(t, rc.Control(func(fd uintptr) {
		flags, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	}))
	assert.NotZero(t, flags&syscall.O_NONBLOCK, "the listening socket stays non-blocking")
}
