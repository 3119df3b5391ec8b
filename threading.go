package httpev

import (
	"log/slog"
	"sync"
	"time"

	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/panics"
	"golang.org/x/sync/semaphore"
)

// loop runs submitted functions one at a time on a single goroutine: the Go
// form of the EV event loop, so that callbacks of listeners with Threading off
// never run concurrently and ported single-threaded code needs no locks.
//
// Its queue is unbounded so that submitting never blocks, not even when a
// function running on the loop submits another; its length is bounded in
// practice by the connections, each of which has at most a few callbacks
// pending. A submission costs a mutex and, when the loop is idle, one
// goroutine wake-up (about a microsecond).
type loop struct {
	mu      sync.Mutex
	queue   []func()
	spare   []func()
	wake    chan struct{}
	stopped bool
	// busy: a goroutine runs the loop's functions, the loop's own or a
	// connection's that holds the loop (hold); guarded by mu.
	busy bool
	done chan struct{}
	log  *slog.Logger
}

func newLoop(log *slog.Logger) *loop {
	l := &loop{wake: make(chan struct{}, 1), done: make(chan struct{}), log: log}
	go l.run()
	return l
}

// submit queues f; it reports false once the loop has stopped.
func (l *loop) submit(f func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, f)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// hold gives the loop to the calling goroutine when it is idle and nothing
// waits in its queue: what the caller runs until release then runs one at
// a time with everything else on the loop, and after what was submitted
// before, as if the loop ran it. A connection runs its request callback so
// (conn.runHeld), without the two goroutine switches of handing it to the
// loop goroutine and back. It reports false when the loop is busy, has
// work queued or has stopped: then the caller submits instead.
func (l *loop) hold() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy || l.stopped || len(l.queue) > 0 {
		return false
	}
	l.busy = true
	return true
}

// release ends a hold, waking the loop goroutine for what was submitted
// meanwhile (or to stop).
func (l *loop) release() {
	l.mu.Lock()
	l.busy = false
	wake := len(l.queue) > 0 || l.stopped
	l.mu.Unlock()
	if wake {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *loop) run() {
	defer close(l.done)
	for range l.wake {
		for {
			l.mu.Lock()
			if l.busy {
				l.mu.Unlock()
				break // held: release wakes the loop
			}
			batch := l.queue
			l.queue, l.spare = l.spare[:0], nil
			stopped := l.stopped
			l.busy = len(batch) > 0
			l.mu.Unlock()
			if len(batch) == 0 {
				if stopped {
					return
				}
				break
			}
			for i, f := range batch {
				callSafely(l.log, f)
				batch[i] = nil
			}
			l.mu.Lock()
			l.spare, l.busy = batch, false
			l.mu.Unlock()
		}
	}
}

// stop lets queued functions run, then ends the loop goroutine. It waits
// at most wait for a callback that never returns, and reports whether the
// loop ended.
func (l *loop) stop(wait time.Duration) bool {
	l.mu.Lock()
	already := l.stopped
	l.stopped = true
	l.mu.Unlock()
	if !already {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	select {
	case <-l.done:
		return true
	case <-time.After(wait):
		l.log.Error("httpev: a callback on the loop goroutine did not return; loop left running")
		return false
	}
}

// callSafely runs f and logs a panic with its stack instead of letting it
// take the server down. It reports the recovered panic, if any.
func callSafely(log *slog.Logger, f func()) {
	defer func() {
		if v := recover(); v != nil {
			// panics.Try would allocate on every call; recovering here keeps
			// the common path free and still records conc's Recovered form.
			r := panics.NewRecovered(1, v)
			log.Error("httpev: callback panicked", "panic", r.Value, "stack", string(r.Stack))
		}
	}()
	f()
}

// executor decides where a listener's callbacks run.
type executor struct {
	serial *loop               // Threading off: the server's loop
	wg     *conc.WaitGroup     // Threading on: tracks callback goroutines
	sem    *semaphore.Weighted // Options.MaxCallbacks, for request callbacks only
	log    *slog.Logger
}

// async runs f without waiting for it: on the loop, or in a new goroutine.
// It never waits for a MaxCallbacks slot: what it runs (OnError, close
// handlers, completions, logs) is often queued by a callback that holds a
// slot itself, and waiting there could deadlock. Request callbacks take
// their slot in conn.runHere.
func (e *executor) async(f func()) {
	if e.serial != nil {
		if !e.serial.submit(f) {
			callSafely(e.log, f) // server stopping: run inline rather than lose it
		}
		return
	}
	e.wg.Go(func() { callSafely(e.log, f) })
}

// sync runs f and waits for it. With Threading on it runs in the caller's
// goroutine, which is the connection's own; with it off it waits its turn on
// the loop.
func (e *executor) sync(f func()) {
	if e.serial == nil {
		callSafely(e.log, f)
		return
	}
	done := make(chan struct{})
	if !e.serial.submit(func() { defer close(done); f() }) {
		callSafely(e.log, f)
		return
	}
	<-done
}
