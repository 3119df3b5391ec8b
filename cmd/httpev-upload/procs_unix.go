//go:build unix

package main

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// stopWorker asks a worker for a graceful stop, as SIGTERM does for the app.
func stopWorker(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// socketFile duplicates ln's descriptor into a file whose Fd leaves the
// socket non-blocking (os.NewFile of a non-blocking descriptor keeps it so).
func socketFile(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		syscall.ForkLock.RLock() // no worker started meanwhile inherits it
		defer syscall.ForkLock.RUnlock()
		if nfd, derr = syscall.Dup(int(fd)); derr == nil {
			syscall.CloseOnExec(nfd)
		}
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(nfd), "listener"), nil
}
