//go:build !linux

package httpev

// counts: connections never wait in a poller here.
func (*eventLoop) counts() (resident, parked int) { return 0, 0 }
