package main

import "os"

// stopWorker kills: Windows has no SIGTERM to send to another process. (A
// worker cannot be started on Windows anyway: its sockets cannot be
// passed as files.)
func stopWorker(p *os.Process) error { return p.Kill() }

// restoreNonblocking: sockets are never passed to workers here.
func restoreNonblocking([]*os.File) {}
