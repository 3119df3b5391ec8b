package main

import "syscall"

// workerAttr makes the kernel stop a worker whose supervisor died without
// stopping it (killed with SIGKILL), so no worker outlives it serving a
// socket nobody supervises.
func workerAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
