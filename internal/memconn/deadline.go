package memconn

import (
	"sync"
	"time"
)

// deadline is a channel that closes when a deadline passes. Moving the
// deadline keeps the same channel while it is still open, so operations
// already waiting on it see the new time without being woken.
//
// One timer serves every deadline the conn is given, re-armed with Reset:
// the engine sets a deadline before each read, and a timer per call would
// be an allocation per read. A firing that is stale (the deadline moved
// later meanwhile) finds the deadline not yet passed and does nothing.
type deadline struct {
	mu    sync.Mutex
	when  time.Time // zero: none
	timer *time.Timer
	ch    chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.when = t
	if d.ch == nil || isClosed(d.ch) {
		d.ch = make(chan struct{})
	}
	if t.IsZero() {
		if d.timer != nil {
			d.timer.Stop()
		}
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
	} else {
		d.timer.Reset(dur)
	}
}

func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.when.IsZero() && !time.Now().Before(d.when) && !isClosed(d.ch) {
		close(d.ch)
	}
}

// done returns the channel that closes when the deadline passes.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *deadline) expired() bool { return isClosed(d.done()) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
