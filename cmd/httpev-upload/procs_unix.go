//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopWorker asks a worker for a graceful stop, as SIGTERM does for the app.
func stopWorker(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
