//go:build !unix

package httpev

import (
	"fmt"
	"net"
	"os"
)

// listenerFile is the listener's own File where there is no exec to pass
// a socket through (Windows, wasm).
func listenerFile(ln net.Listener) (*os.File, error) {
	f, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("httpev: %T has no file", ln)
	}
	return f.File()
}
