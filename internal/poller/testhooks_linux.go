package poller

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
