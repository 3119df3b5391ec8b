//go:build linux

package httpev

// counts reports how many connections are in the poller's epoll set:
// resident (served by the poller, idle or not) and parked (idle, waiting
// for their goroutine to be started again). Stats calls it.
func (ev *eventLoop) counts() (resident, parked int) {
	c := ev.p.Counts()
	return c.Resident, c.Parked
}
