package httpev

import (
	"os"
	"sync/atomic"
)

// AsyncIO overlaps socket reads with disk writes, the role IO::AIO played
// in the original: each file being received has a writer goroutine fed
// through a queue of at most Depth chunks, so the parser keeps reading
// while the disk writes, a slow disk does not stall it until the queue is
// full, and a fast one is never waited on at all. Chunks are written from
// the very buffer the socket was read into. Each such file costs one
// goroutine (a few KB) and the buffers in its queue.
//
// The overlap is for a few uploads at a time: with many, the other uploads
// keep the CPUs and the disk busy, and a file's reads waiting for its own
// writes cost nothing, while the writer goroutine and the second buffer it
// keeps busy do. So a file opened while MaxOverlapped files already have a
// writer is written inline, as BlockingIO writes: with 100 uploads of 8
// MiB in flight, 58 KB of server memory per upload against 80 KB with a
// writer each, and less CPU (bench/run uploads-concurrent).
type AsyncIO struct {
	// Depth is the number of chunks queued per file; default 4.
	Depth int
	// MaxOverlapped is how many files at once get a writer goroutine;
	// 0 means 4, a negative value means no bound (every file gets one).
	MaxOverlapped int

	overlapped atomic.Int64 // files with a writer goroutine now
}

// NewAsyncIO returns an AsyncIO with the given queue depth (0 means 4).
func NewAsyncIO(depth int) *AsyncIO { return &AsyncIO{Depth: depth} }

// Create implements IO.
func (a *AsyncIO) Create(dir string) (FileWriter, error) {
	f, err := createTemp(dir)
	if err != nil {
		return nil, err
	}
	max := int64(a.MaxOverlapped)
	if max == 0 {
		max = 4
	}
	if a.overlapped.Add(1) > max && max > 0 {
		a.overlapped.Add(-1)
		return &blockingFile{f: f}, nil
	}
	depth := a.Depth
	if depth <= 0 {
		depth = 4
	}
	w := &asyncFile{f: f, jobs: make(chan asyncJob, depth), done: make(chan struct{}), owner: a}
	go w.run()
	return w, nil
}

type asyncJob struct {
	chunk []byte
	done  func(error)
}

type asyncFile struct {
	f     *os.File
	jobs  chan asyncJob
	done  chan struct{}
	owner *AsyncIO
	err   error // owned by run until done is closed
}

func (a *asyncFile) Path() string { return a.f.Name() }

func (a *asyncFile) run() {
	defer close(a.done)
	defer a.owner.overlapped.Add(-1) // before done: once Close returns, the slot is free
	for j := range a.jobs {
		if a.err == nil {
			_, a.err = a.f.Write(j.chunk)
		}
		j.done(a.err)
	}
}

func (a *asyncFile) Write(chunk []byte, done func(error)) {
	a.jobs <- asyncJob{chunk: chunk, done: done}
}

func (a *asyncFile) Close() error {
	close(a.jobs)
	<-a.done
	if err := a.f.Close(); err != nil && a.err == nil {
		a.err = err
	}
	return a.err
}
