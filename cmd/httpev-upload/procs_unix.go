//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopWorker asks a worker for a graceful stop, as SIGTERM does for the app.
func stopWorker(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// restoreNonblocking puts the listening sockets back in non-blocking mode
// after a worker was started with them. exec calls File.Fd, which makes a
// descriptor blocking, and the mode belongs to the socket, shared by every
// process that holds it: the other workers' accepts then blocked in the
// kernel, where no deadline reaches them. A worker shutting down (a
// restart stops all of them at once) sat in such an accept for as long as
// no client connected (minutes, in a test, until its grace ran out), and
// took the connections it accepted late past its drain window, closing
// them unanswered (17 wrk read errors per restart with -procs 2).
func restoreNonblocking(files []*os.File) {
	for _, f := range files {
		_ = syscall.SetNonblock(int(f.Fd()), true)
	}
}
