//go:build unix

package httpev

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenerFile duplicates ln's descriptor into an *os.File that os/exec can
// pass on without making the socket blocking. net's File marks its copy so
// that Fd switches the descriptor to blocking mode, and that mode belongs
// to the open socket, shared by every duplicate in every process; a file
// made by os.NewFile from a non-blocking descriptor keeps it as it is.
func listenerFile(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("httpev: %T has no file", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("httpev: listener file: %w", err)
	}
	nfd := -1
	var derr error
	err = rc.Control(func(fd uintptr) {
		// Under ForkLock, so no program started meanwhile inherits it.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		nfd, derr = syscall.Dup(int(fd))
		if derr == nil {
			syscall.CloseOnExec(nfd)
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("httpev: listener file: %w", err)
	}
	return os.NewFile(uintptr(nfd), "httpev-listener:"+ln.Addr().String()), nil
}
