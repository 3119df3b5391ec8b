package httpev

import "testing"

// waitIdleParked waits until n connections of srv are in the poller.
func waitIdleParked(t *testing.T, srv *Server, n int) { waitParked(t, srv, n) }
