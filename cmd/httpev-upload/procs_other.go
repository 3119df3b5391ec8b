//go:build !linux

package main

import "syscall"

// workerAttr has nothing to set where the kernel cannot signal a worker on
// its parent's death.
func workerAttr() *syscall.SysProcAttr { return nil }
