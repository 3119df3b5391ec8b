package poller

import "time"

// Hooks for tests that must hold the poller still or make it miss an
// event; nothing else calls them.

// Hold takes the poller's mutex until release is called: the runner,
// drains and parking wait meanwhile.
func (p *Poller) Hold() (release func()) {
	p.mu.Lock()
	return p.mu.Unlock
}

// MuteOldest makes the registration of the waiting connection with the
// earliest deadline report nothing more (as if the poller missed its
// input); it reports false when none waits.
func (p *Poller) MuteOldest() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.head
	if e == nil {
		return false, nil
	}
	return true, p.ep.mute(int(e.fd), e.gen)
}

// ManualTicker is a watcher clock a test drives: each Tick is one tick of
// the watcher, handled before Tick returns.
type ManualTicker struct {
	c    chan time.Time
	done chan struct{}
}

func (m *ManualTicker) C() <-chan time.Time { return m.c }
func (m *ManualTicker) Handled()            { m.done <- struct{}{} }
func (m *ManualTicker) Stop()               {}
func (m *ManualTicker) Reset(time.Duration) {}

// Tick delivers one tick to the watcher and returns once the watcher has
// handled it (a handoff it started included). The watcher must be awake:
// it sleeps after WatchIdleTicks ticks with nothing served.
func (m *ManualTicker) Tick() {
	m.c <- time.Now()
	<-m.done
}

// SetTicker makes the watcher tick only when the test calls Tick on the
// returned ticker; call it before Start.
func (p *Poller) SetTicker() *ManualTicker {
	m := &ManualTicker{c: make(chan time.Time), done: make(chan struct{})}
	p.tickers = func(time.Duration) ticker { return m }
	return m
}
