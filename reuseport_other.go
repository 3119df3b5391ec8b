//go:build !linux

package httpev

import (
	"errors"
	"syscall"
)

// reusePort is Linux-only here; elsewhere asking for it is an error rather
// than a silent no-op.
func reusePort(network, address string, c syscall.RawConn) error {
	return errors.New("httpev: ReusePort is supported on Linux only")
}
