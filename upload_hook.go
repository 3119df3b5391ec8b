package httpev

import (
	"fmt"

	"github.com/sourcegraph/conc/panics"
)

// hook runs an upload callback in its listener's executor. A panic in it
// (logged by the executor) fails the upload as a panic in the request
// callback fails the request: the body was not handled as the application
// meant, so answering 200 from the request callback would hide the fault.
func hook(e *executor, name string, f func()) error {
	if e.serial == nil { // Threading on: here, as sync would, without its closure
		return callHook(e, name, f)
	}
	panicked := true
	e.sync(func() {
		f()
		panicked = false
	})
	if panicked {
		return fmt.Errorf("%w: %s", ErrCallbackPanicked, name)
	}
	return nil
}

// callHook runs f in the calling goroutine; a panic is logged as
// callSafely logs it and reported as ErrCallbackPanicked.
func callHook(e *executor, name string, f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r := panics.NewRecovered(1, v)
			e.log.Error("httpev: callback panicked", "panic", r.Value, "stack", string(r.Stack))
			err = fmt.Errorf("%w: %s", ErrCallbackPanicked, name)
		}
	}()
	f()
	return nil
}

// reusedHook calls one upload callback as hook does, for a callback run
// per chunk (OnFileWrite): made once per upload, a call allocates nothing,
// where hook's closures and the loop's completion channel cost about four
// allocations per chunk, garbage enough to double the heap between
// collections with 100 uploads in flight.
type reusedHook struct {
	e        *executor
	name     string
	f        func()
	onLoop   func()        // h.runOnLoop, bound once
	done     chan struct{} // runOnLoop has returned; cap 1
	panicked bool          // written by runOnLoop, read after done
}

func newReusedHook(e *executor, name string, f func()) *reusedHook {
	h := &reusedHook{e: e, name: name, f: f}
	if e.serial != nil {
		h.onLoop, h.done = h.runOnLoop, make(chan struct{}, 1)
	}
	return h
}

// call runs f and waits for it: in the calling goroutine with Threading on,
// its turn on the loop with it off (inline once the loop has stopped, as
// executor.sync does).
func (h *reusedHook) call() error {
	if h.e.serial == nil {
		return callHook(h.e, h.name, h.f)
	}
	h.panicked = true
	if !h.e.serial.submit(h.onLoop) {
		return callHook(h.e, h.name, h.f)
	}
	<-h.done
	if h.panicked {
		return fmt.Errorf("%w: %s", ErrCallbackPanicked, h.name)
	}
	return nil
}

// runOnLoop is what the loop runs; the loop logs a panic of f.
func (h *reusedHook) runOnLoop() {
	defer func() { h.done <- struct{}{} }()
	h.f()
	h.panicked = false
}
