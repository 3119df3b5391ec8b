//go:build !linux

package httpev

import "testing"

// waitIdleParked: connections park only on Linux.
func waitIdleParked(*testing.T, *Server, int) {}
