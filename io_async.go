package httpev

import "os"

// AsyncIO overlaps socket reads with disk writes, the role IO::AIO played
// in the original: each file being received has a writer goroutine fed
// through a queue of at most Depth chunks, so the parser keeps reading
// while the disk writes, a slow disk does not stall it until the queue is
// full, and a fast one is never waited on at all. Chunks are written from
// the very buffer the socket was read into. Each open file costs one
// goroutine (a few KB) and the buffers in its queue.
type AsyncIO struct {
	// Depth is the number of chunks queued per file; default 4.
	Depth int
}

// NewAsyncIO returns an AsyncIO with the given queue depth (0 means 4).
func NewAsyncIO(depth int) *AsyncIO { return &AsyncIO{Depth: depth} }

// Create implements IO.
func (a *AsyncIO) Create(dir string) (FileWriter, error) {
	f, err := createTemp(dir)
	if err != nil {
		return nil, err
	}
	depth := a.Depth
	if depth <= 0 {
		depth = 4
	}
	w := &asyncFile{f: f, jobs: make(chan asyncJob, depth), done: make(chan struct{})}
	go w.run()
	return w, nil
}

type asyncJob struct {
	chunk []byte
	done  func(error)
}

type asyncFile struct {
	f    *os.File
	jobs chan asyncJob
	done chan struct{}
	err  error // owned by run until done is closed
}

func (a *asyncFile) Path() string { return a.f.Name() }

func (a *asyncFile) run() {
	defer close(a.done)
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
