package httpev

import (
	"sync"
	"sync/atomic"
)

// An upload reads its body into pooled buffers and hands the file chunks
// in them to the disk writer without copying; these are the buffers, their
// sizes and how many one upload may hold.
const (
	// uploadBufBig is the buffer size while few uploads are in flight: one
	// 16 MiB upload (BenchmarkUpload) went at about 1600 MB/s through 64
	// KB buffers against 1000 MB/s through 16 KB ones (two runs, machine
	// loaded), where a read and a write per chunk cost about as much as
	// the copying.
	uploadBufBig = 64 << 10
	// uploadBufSmall is the buffer size once more than uploadsBig uploads
	// are in flight. Then the CPUs are busy with other uploads whatever
	// the read size, and memory per upload counts. 200 uploads of 8 MiB,
	// 100 at a time (bench/run uploads-concurrent, the database pool
	// open as in a full run; three rounds alternating, bench/README),
	// server memory per upload in flight against net/http's 66-67 KB
	// (64 KB buffers took 122 KB in an earlier run without the pool):
	// 32 KB buffers 69-71 KB, more than net/http's, in 1.21-1.24 s; 24 KB
	// ones 58-61 KB in 1.27-1.32 s and 1.82-1.86 s of server CPU; 16 KB
	// ones 51-53 KB in 1.33-1.37 s and 1.91-1.93 s (net/http 1.57-1.59 s).
	// Without the pool (bench/run's condition since), 16 against 24 KB, a
	// slower host: quiet, 1.72-1.76 against 1.64-1.68 s, server CPU
	// 2.53-2.57 against 2.39-2.45 s, 57 against 63-67 KB (net/http 1.99-2.05
	// s, 75-82 KB), three rounds; beside a CPU-bound process, 2.29-2.37
	// against 2.21-2.27 s, CPU 2.54-2.61 against 2.43-2.44 s, 58-59 against
	// 64-65 KB (net/http 2.70-2.80 s, 77 KB), two rounds.
	uploadBufSmall = 24 << 10
	// uploadsBig is how many uploads in flight still get big buffers: one
	// or two uploads at a time go at full speed, and at most 256 KB of
	// big buffers stay pooled once many uploads run.
	uploadsBig = 2
	// uploadBufs is how many buffers one upload may hold at once: one
	// being read into while the disk writer works through the other.
	// Without this budget a reader ahead of its writer (a slow disk, or an
	// OnFileWrite that hashes) took a fresh buffer for every chunk the
	// writer's queue held: with AsyncIO's depth of 4 about 270 KB per
	// upload in flight.
	uploadBufs = 2
)

// uploadBuf is one pooled read buffer, shared by the disk writes that still
// reference chunks of it.
type uploadBuf struct {
	b      []byte
	refs   atomic.Int32
	pool   *sync.Pool
	budget chan struct{} // the upload's, given a token back when the buffer is free
}

func (u *uploadBuf) release() {
	if u.refs.Add(-1) == 0 {
		budget := u.budget
		u.budget = nil
		u.pool.Put(u)
		budget <- struct{}{}
	}
}

// uploadPools are the server's two pools of upload buffers, one per size.
type uploadPools struct {
	big, small sync.Pool // *uploadBuf
}

func (p *uploadPools) init() {
	p.big.New = func() any { return &uploadBuf{b: make([]byte, uploadBufBig), pool: &p.big} }
	p.small.New = func() any { return &uploadBuf{b: make([]byte, uploadBufSmall), pool: &p.small} }
}

// uploadBufSize is the size of the buffers uploads take now.
func (s *Server) uploadBufSize() int {
	if s.stats.uploads.Load() > uploadsBig {
		return uploadBufSmall
	}
	return uploadBufBig
}

// getUploadBuf takes a buffer of the size uploads take now, once the
// upload's budget has a token for it, waiting for the disk writer to free
// one otherwise.
func (s *Server) getUploadBuf(budget chan struct{}) *uploadBuf {
	<-budget
	pool := &s.upBufs.big
	if s.uploadBufSize() == uploadBufSmall {
		pool = &s.upBufs.small
	}
	u := pool.Get().(*uploadBuf)
	u.refs.Store(1) // the reader's own reference
	u.budget = budget
	return u
}

// newUploadBudget returns a budget of uploadBufs tokens.
func newUploadBudget() chan struct{} {
	b := make(chan struct{}, uploadBufs)
	for range uploadBufs {
		b <- struct{}{}
	}
	return b
}

// fileChunk is one piece of a received file on its way to the disk.
type fileChunk struct {
	buf  *uploadBuf
	file *MultipartFile
	data []byte
}

// chunkQueue holds the chunks a FileWriter has not reported done yet: the
// reader pushes, the writer's done callbacks pop, in order (FileWriter
// promises that order). Its slice is reused, so a chunk costs no
// allocation.
type chunkQueue struct {
	mu   sync.Mutex
	q    []fileChunk
	head int
}

func (c *chunkQueue) push(ch fileChunk) {
	c.mu.Lock()
	if c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	}
	c.q = append(c.q, ch)
	c.mu.Unlock()
}

func (c *chunkQueue) pop() fileChunk {
	c.mu.Lock()
	ch := c.q[c.head]
	c.q[c.head] = fileChunk{} // the buffer goes back to the pool: no reference left here
	c.head++
	c.mu.Unlock()
	return ch
}
