//go:build linux

package httpev

// counts reports how many connections are in the poller's epoll set:
// resident (served by the poller, idle or not) and parked (idle, waiting
// for their goroutine to be started again). Stats calls it; it walks the
// descriptor table under the poller's lock rather than keeping counters on
// the poller's hot path.
func (p *parker) counts() (resident, parked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.byFD {
		switch {
		case c == nil:
		case c.park.resident:
			resident++
		case c.park.parked:
			parked++
		}
	}
	return resident, parked
}
