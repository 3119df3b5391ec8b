package memconn

import "sync"

// keepCap is the buffer capacity a drained pipe keeps; a larger buffer is
// released, so an idle connection holds almost no memory.
const keepCap = 4 << 10

// pipe is one direction of a connection: a byte queue bounded by limit,
// with the end-of-stream and broken states of each side.
type pipe struct {
	mu     sync.Mutex
	buf    []byte // unread bytes are buf[r:]
	r      int
	limit  int
	eof    bool          // the writing end closed: reads drain, then io.EOF
	broken bool          // the reading end closed: writes fail
	wait   chan struct{} // closed on the next change; nil while nobody waits
}

func (p *pipe) unread() int { return len(p.buf) - p.r }

// notifyLocked wakes everyone waiting for a change.
func (p *pipe) notifyLocked() {
	if p.wait != nil {
		close(p.wait)
		p.wait = nil
	}
}

// waitLocked returns a channel that closes on the next change.
func (p *pipe) waitLocked() <-chan struct{} {
	if p.wait == nil {
		p.wait = make(chan struct{})
	}
	return p.wait
}

// takeLocked moves up to len(b) unread bytes into b.
func (p *pipe) takeLocked(b []byte) int {
	n := copy(b, p.buf[p.r:])
	p.r += n
	if p.r == len(p.buf) {
		if cap(p.buf) > keepCap {
			p.buf = nil
		} else {
			p.buf = p.buf[:0]
		}
		p.r = 0
	}
	p.notifyLocked()
	return n
}

// putLocked appends as much of b as the limit allows and reports how much.
func (p *pipe) putLocked(b []byte) int {
	n := min(p.limit-p.unread(), len(b))
	if n <= 0 {
		return 0
	}
	if p.r > 0 && len(p.buf)+n > cap(p.buf) {
		m := copy(p.buf, p.buf[p.r:])
		p.buf, p.r = p.buf[:m], 0
	}
	p.buf = append(p.buf, b[:n]...)
	p.notifyLocked()
	return n
}

// closeRead marks the reading end gone: buffered bytes are dropped and
// writers fail from now on.
func (p *pipe) closeRead() {
	p.mu.Lock()
	p.broken = true
	p.buf, p.r = nil, 0
	p.notifyLocked()
	p.mu.Unlock()
}

// closeWrite marks the end of the stream: the reader drains what is
// buffered, then sees io.EOF.
func (p *pipe) closeWrite() {
	p.mu.Lock()
	p.eof = true
	p.notifyLocked()
	p.mu.Unlock()
}
