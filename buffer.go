package httpev

import (
	"sync"
	"sync/atomic"
)

// Buffer is a request's output, the Go form of HTTP::Server::EV::Buffer.
// Writes append to memory and never block, so a callback on the loop
// goroutine cannot be stalled by a slow client. The connection goroutine
// sends the data once the buffer passes its flush threshold, on Flush, or
// when the request finishes; a response that finishes before anything was
// sent goes out in one piece with a Content-Length.
//
// Memory per slow client is bounded: a write that would take the unsent
// output past the high-water mark (Options.MaxBuffered) writes nothing and
// returns ErrBufferFull. Pace such producers with FlushWait or a stream.
//
// A Buffer is safe for concurrent use. Holding it costs the unsent bytes
// plus one spare slice of the same capacity per connection (the double
// buffer that lets the application write while the previous piece is on
// its way out).
type Buffer struct {
	mu       sync.Mutex
	data     []byte // guarded by mu
	discard  bool   // guarded by mu: HEAD: count the body, keep none of it
	flushReq bool   // guarded by mu
	finished bool   // guarded by mu
	// pumpArmed, set while a Threading-on callback runs on the connection
	// goroutine, asks the first signal (threshold, Flush, FlushWait,
	// failure) to start a goroutine that sends output meanwhile
	// (sig.startPump).
	pumpArmed atomic.Bool
	queued    int64        // guarded by mu: body bytes accepted so far
	sent      int64        // guarded by mu: body bytes written to the socket
	waits     *bufferWaits // guarded by mu: nil until FlushWait, OnError or a failure
	sig       *outSignal   // the connection's, reused request after request; set by init
}

// outSignal is how a Buffer reaches the goroutine that sends it: the
// connection's, one per connection rather than two fields per request.
type outSignal struct {
	wake      chan struct{} // there is work
	startPump func()        // Threading on: pump from another goroutine while the callback runs
	cfg       *bufferConfig // the listener's, shared: here rather than in each Buffer
	// spare is the double buffer: the slice last sent, which the next
	// take hands to the application to write into while the piece it
	// takes is sent. It belongs to the goroutine sending the current
	// request's output (the only caller of take and written with data),
	// and is touched under that request's Buffer mutex; a Buffer failed
	// after its request ended (written with no data) leaves it alone.
	spare []byte
}

// bufferConfig is what every Buffer of a listener shares, reached through
// the connection's outSignal, so that a request object carries no field
// for it: the request object
// is the one allocation per request, and its size sets how often the
// garbage collector runs under load.
type bufferConfig struct {
	threshold int
	max       int
	exec      *executor
	serial    bool // callbacks run on the loop: FlushWait must not block
}

// bufferWaits holds what few responses ask for or meet: flush waiters,
// error callbacks and the error that ended the output, allocated on first
// use.
type bufferWaits struct {
	waiters []flushWaiter
	onError []func(error)
	err     error // sticky: why no more output can be sent
}

type flushWaiter struct {
	target int64
	done   func(error)
}

// init binds the Buffer to its connection's signal, and so to the
// listener's configuration (outSignal.cfg).
func (b *Buffer) init(sig *outSignal) { b.sig = sig }

// threshold is the listener's flush threshold (Options.FlushThreshold).
func (b *Buffer) threshold() int { return b.sig.cfg.threshold }

// errLocked is why no more output can be sent, or nil (b.mu held).
func (b *Buffer) errLocked() error {
	if b.waits == nil {
		return nil
	}
	return b.waits.err
}

// waitsLocked returns the Buffer's waiters, allocating them (b.mu held).
func (b *Buffer) waitsLocked() *bufferWaits {
	if b.waits == nil {
		b.waits = new(bufferWaits)
	}
	return b.waits
}

// signal wakes the goroutine that sends the output, starting it first if
// the callback still runs (Threading on). Callers hold no lock: see
// LOCKING in server.go.
func (b *Buffer) signal() {
	if b.pumpArmed.Load() && b.pumpArmed.Swap(false) {
		b.sig.startPump()
	}
	select {
	case b.sig.wake <- struct{}{}:
	default:
	}
}

// Write appends p to the output. It never blocks. It fails with
// ErrBufferFull past the high-water mark, ErrRequestFinished after the
// request ended, or the error that ended the connection.
func (b *Buffer) Write(p []byte) (int, error) { return bufferAppend(b, p) }

// WriteString is Write for a string, without converting it first.
func (b *Buffer) WriteString(s string) (int, error) { return bufferAppend(b, s) }

func bufferAppend[T string | []byte](b *Buffer, p T) (int, error) {
	b.mu.Lock()
	if err := b.writableLocked(len(p)); err != nil {
		b.mu.Unlock()
		return 0, err
	}
	b.queued += int64(len(p))
	if b.discard {
		b.mu.Unlock()
		return len(p), nil
	}
	b.data = append(b.data, p...)
	due := len(b.data) >= b.sig.cfg.threshold
	b.mu.Unlock()
	if due {
		b.signal() // unlocked: it may start the pump goroutine
	}
	return len(p), nil
}

func (b *Buffer) writableLocked(n int) error {
	switch {
	case b.errLocked() != nil:
		return b.errLocked()
	case b.finished:
		return ErrRequestFinished
	case len(b.data)+n > b.sig.cfg.max:
		return ErrBufferFull
	}
	return nil
}

// Len reports how many bytes are waiting to be sent.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.data)
}

// Sent reports how many body bytes have been written to the socket.
func (b *Buffer) Sent() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent
}

// Flush asks for the pending output to be sent now, without waiting for it.
// The response then goes out chunked (HTTP/1.1) or close-delimited
// (HTTP/1.0), since its length is not known yet.
func (b *Buffer) Flush() {
	b.mu.Lock()
	b.flushReq = true
	b.mu.Unlock()
	b.signal()
}

// FlushWait sends the pending output and reports when it has been written
// to the socket. With done set it returns at once and done runs afterwards
// (on the loop goroutine when Threading is off). With done nil it blocks
// until then, which is refused with ErrWouldBlock on a Threading-off
// listener, whose loop goroutine must never wait on a client.
func (b *Buffer) FlushWait(done func(err error)) error {
	if done == nil && b.sig.cfg.serial {
		b.Flush()
		return ErrWouldBlock
	}
	var ch chan error
	if done == nil {
		ch = make(chan error, 1)
		done = func(err error) { ch <- err }
	} else {
		user := done
		exec := b.sig.cfg.exec
		done = func(err error) { exec.async(func() { user(err) }) }
	}
	b.mu.Lock()
	if err := b.errLocked(); err != nil {
		b.mu.Unlock()
		done(err)
	} else {
		w := b.waitsLocked()
		w.waiters = append(w.waiters, flushWaiter{target: b.queued, done: done})
		b.flushReq = true
		b.mu.Unlock()
		b.signal()
	}
	if ch != nil {
		return <-ch
	}
	return nil
}

// OnError registers f to run (like other callbacks) when the client goes
// away or the connection fails before the whole response was sent.
func (b *Buffer) OnError(f func(err error)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.waitsLocked()
	w.onError = append(w.onError, f)
}

// take hands the pending data to the connection goroutine and swaps in the
// spare slice, so the application keeps writing while it is sent.
func (b *Buffer) take() (data []byte, finished, flush bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.takeLocked()
}

func (b *Buffer) takeLocked() (data []byte, finished, flush bool, err error) {
	data, b.data = b.data, b.sig.spare[:0]
	b.sig.spare = nil
	finished, flush, err = b.finished, b.flushReq, b.errLocked()
	b.flushReq = false
	return data, finished, flush, err
}

// written records that n bytes went out (or failed with err) and fires the
// flush waiters that are now satisfied.
func (b *Buffer) written(data []byte, err error) {
	b.mu.Lock()
	ready, onErr := b.writtenLocked(data, err)
	b.mu.Unlock()
	b.fire(ready, onErr, err)
}

// writtenLocked is written's bookkeeping (b.mu held); it returns the flush
// waiters and error callbacks to call, unlocked, with fire.
func (b *Buffer) writtenLocked(data []byte, err error) (ready []flushWaiter, onErr []func(error)) {
	if data != nil {
		b.sig.spare = data[:0] // the sender's (outSignal.spare)
	}
	w := b.waits // nil for most responses: no waiters, no error callbacks, no failure
	if err != nil {
		w = b.waitsLocked()
		if w.err == nil {
			w.err = err
			onErr = w.onError
		}
		ready, w.waiters = w.waiters, nil
	} else {
		b.sent += int64(len(data))
		if b.discard {
			b.sent = b.queued
		}
		if w != nil {
			keep := w.waiters[:0]
			for _, fw := range w.waiters {
				if fw.target <= b.sent {
					ready = append(ready, fw)
				} else {
					keep = append(keep, fw)
				}
			}
			w.waiters = keep
		}
	}
	return ready, onErr
}

// fire calls what writtenLocked returned.
func (b *Buffer) fire(ready []flushWaiter, onErr []func(error), err error) {
	for _, w := range ready {
		w.done(err)
	}
	for _, f := range onErr {
		b.sig.cfg.exec.async(func() { f(err) })
	}
}

// fail ends the output with err (client gone, dropped, server closed).
func (b *Buffer) fail(err error) {
	b.written(nil, err)
	b.signal()
}

// finish marks the response complete; it reports false if it already was.
func (b *Buffer) finish() bool {
	first := b.markFinished()
	b.signal()
	return first
}

func (b *Buffer) markFinished() bool {
	b.mu.Lock()
	already := b.finished
	b.finished = true
	b.mu.Unlock()
	return !already
}

// finishTake marks the response complete and takes all of its output, for
// the goroutine that sends it itself next (runHere): finish and take in
// one turn of the mutex, without the signal.
func (b *Buffer) finishTake() (data []byte, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finished = true
	data, _, _, err = b.takeLocked()
	return data, err
}
