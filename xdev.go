package httpev

import (
	"errors"
	"syscall"
)

// isCrossDevice reports a rename that failed because source and target are
// on different filesystems, where Save falls back to copying.
func isCrossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }

// isConnReset reports a connection the peer reset.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
