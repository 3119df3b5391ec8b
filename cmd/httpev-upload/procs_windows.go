package main

import (
	"errors"
	"net"
	"os"
)

// stopWorker kills: Windows has no SIGTERM to send to another process. (A
// worker cannot be started on Windows anyway: its sockets cannot be
// passed as files.)
func stopWorker(p *os.Process) error { return p.Kill() }

// socketFile: Windows sockets cannot be passed as inherited descriptors.
func socketFile(net.Listener) (*os.File, error) {
	return nil, errors.New("-procs is not supported on Windows")
}
