package httpev

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"github.com/httpev/httpev/internal/http1"
)

// Stats is a snapshot of what a Server is doing, from Server.Stats: gauges
// of what is open now and counters since New. It exists so that a
// deployment can watch the server (a Prometheus exporter, a health page)
// without instrumenting its callbacks. Counters only grow; a rate is the
// difference of two snapshots.
type Stats struct {
	// ConnsOpen is the connections open now, whatever they are doing:
	// against Options.MaxConns, how close the server is to its bound, and
	// against the process's descriptor limit, how close to running out.
	ConnsOpen int
	// ConnsResident is how many of them the Linux poller serves itself
	// (Threading-on TCP connections: idle in its epoll set, or having a
	// request served on the poller goroutine); 0 on other systems. They
	// hold no goroutine of their own.
	ConnsResident int
	// ConnsParked is how many idle keep-alive connections are parked in the
	// Linux poller without a goroutine (not resident); 0 elsewhere and with
	// Options.NoIdlePark.
	ConnsParked int
	// ConnsOnGoroutines is the rest: connections with a goroutine (and its
	// stack) of their own, serving a request or waiting for one. It is what
	// an idle connection costs most when it grows.
	ConnsOnGoroutines int
	// ConnsAccepted counts connections since New; with Requests it tells
	// whether clients reuse connections (keep-alive) or pay a handshake per
	// request.
	ConnsAccepted uint64

	// Requests counts finished requests by the status class of their
	// answer: Requests[2] is 2xx, Requests[4] 4xx, and so on, whether or
	// not the client received all of it. Requests[0] counts those the
	// server never began to answer (the client left, or the connection was
	// cut, before the head was written). Error answers the
	// server gives itself (400, 408, 413, 431, the 503 of RejectOverload)
	// count too, so 4xx and 5xx rates show clients' and the server's
	// trouble without an access log.
	Requests [6]uint64
	// BytesIn and BytesOut count bytes read from and written to clients
	// (what HTTP carried: inside TLS), for bandwidth per server. A
	// connection handed to the application (GiveUpHandle, Hijack) stops
	// counting there.
	BytesIn, BytesOut uint64

	// UploadsInFlight is the request bodies being streamed into temp files
	// now (multipart forms with files, bodies read with RawBodyToFile).
	UploadsInFlight int
	// UploadBytesOnDisk is the size of the received files in TmpPath now:
	// arriving, or received and neither saved elsewhere nor removed yet.
	// It is the disk space uploads hold, to watch against TmpPath's
	// filesystem.
	UploadBytesOnDisk int64
	// UploadFilesOnDisk is how many files that is.
	UploadFilesOnDisk int

	// Dropped counts requests that did not get their full answer, by
	// cause. A dropped request also counts in Requests, by the status it
	// was answered with (0 when none).
	Dropped DropStats
}

// DropStats counts dropped requests by cause (Stats.Dropped): each cause
// points at a different fix (a slow network, a limit set too low, clients
// that give up, a bug, too little capacity).
type DropStats struct {
	// Timeout: a client too slow to send its request (Timeout, 408) or to
	// take its answer (WriteTimeout).
	Timeout uint64
	// Limit: a request over a size limit (413, 414, 431).
	Limit uint64
	// Malformed: a request the parser refused (400, 501).
	Malformed uint64
	// ClientGone: the client closed or reset the connection before it had
	// its whole answer.
	ClientGone uint64
	// Panic: a request or upload callback panicked (500, or a cut answer
	// when the head was out).
	Panic uint64
	// Overload: a connection past Options.MaxConns turned away with 503
	// (RejectOverload).
	Overload uint64
	// Application: the application dropped the request (CGI.Drop).
	Application uint64
	// Shutdown: cut by Close, or by Shutdown's context ending.
	Shutdown uint64
	// Other: anything else, such as a temp file that could not be written
	// (500).
	Other uint64
}

// dropCause indexes statStripe.dropped; noDrop is a request answered in full.
type dropCause int

const (
	dropTimeout dropCause = iota
	dropLimit
	dropMalformed
	dropClientGone
	dropPanic
	dropOverload
	dropApplication
	dropShutdown
	dropOther
	numDropCauses
	noDrop dropCause = -1
)

// statStripes is how many copies of the counters a server keeps. Each
// connection counts into one, chosen round-robin when it is accepted, so
// connections served on different cores seldom add to the same cache
// line; a snapshot sums them.
const statStripes = 16

// statStripe is one copy of the counters. Every field is an atomic: the
// request path adds with no lock, and a snapshot reads while it does.
type statStripe struct {
	accepted atomic.Uint64
	requests [6]atomic.Uint64
	in, out  atomic.Uint64
	writes   atomic.Uint64 // write calls to clients: tests see pipelined answers share one (pipeline.go)
	dropped  [numDropCauses]atomic.Uint64
	_        [64]byte // the next stripe's counters start on another cache line
}

// serverStats is the Server's part of Stats: the stripes, and the upload
// gauges, which change once per upload or file rather than per request.
type serverStats struct {
	stripes [statStripes]statStripe
	next    atomic.Uint32 // round-robin stripe for the next connection

	uploads atomic.Int64 // bodies being streamed to temp files

	filesMu sync.Mutex
	files   map[*MultipartFile]struct{} // received files still in TmpPath
}

// stripe picks the counters of a new connection.
func (s *serverStats) stripe() *statStripe {
	return &s.stripes[s.next.Add(1)%statStripes]
}

// Stats returns a snapshot of the server's activity. Counters are read one
// by one while requests go on, so two of them may disagree by the requests
// finishing meanwhile. It takes the server's lock and the poller's once
// (on Linux it visits every connection in the poller), so call it at
// scrape intervals, not per request.
func (s *Server) Stats() Stats {
	var st Stats
	for i := range s.stats.stripes {
		p := &s.stats.stripes[i]
		st.ConnsAccepted += p.accepted.Load()
		for k := range p.requests {
			st.Requests[k] += p.requests[k].Load()
		}
		st.BytesIn += p.in.Load()
		st.BytesOut += p.out.Load()
		d := &st.Dropped
		for k, n := range []*uint64{&d.Timeout, &d.Limit, &d.Malformed, &d.ClientGone, &d.Panic,
			&d.Overload, &d.Application, &d.Shutdown, &d.Other} {
			*n += p.dropped[k].Load()
		}
	}
	s.mu.Lock()
	st.ConnsOpen = len(s.conns)
	s.mu.Unlock()
	st.ConnsResident, st.ConnsParked = s.ev.counts()
	st.ConnsOnGoroutines = max(0, st.ConnsOpen-st.ConnsResident-st.ConnsParked)
	st.UploadsInFlight = int(s.stats.uploads.Load())
	s.stats.filesMu.Lock()
	st.UploadFilesOnDisk = len(s.stats.files)
	for f := range s.stats.files {
		st.UploadBytesOnDisk += f.size.Load()
	}
	s.stats.filesMu.Unlock()
	return st
}

// countRequest counts a finished request: its status class and, when it
// did not get its full answer, why. It takes the request's output buffer
// back for the next request in the same turn of the Buffer's mutex
// (reclaim), unless wroteLast has.
func (c *conn) countRequest(q *CGI) {
	status := 0
	if q.reclaimed {
		// wroteLast took the buffers back, after the head went out: the
		// status is read without the mutex, since nothing writes it once
		// resp.sent is set (every writer looks at sent under it first).
		status = q.resp.code()
	} else {
		q.out.mu.Lock()
		if q.resp.sent {
			status = q.resp.code()
		}
		c.reclaimLocked(&q.out)
		q.out.mu.Unlock()
	}
	if q.rejected != 0 {
		status = int(q.rejected)
	}
	err := q.Err()
	cause := noDrop
	if q.flags.Load()&flagPanicked != 0 {
		cause = dropPanic
	} else if err != nil {
		cause = causeOf(err, status)
	}
	c.st.count(status, cause)
}

// count adds one request answered with status (0: none) and dropped for
// cause (noDrop: answered in full).
func (p *statStripe) count(status int, cause dropCause) {
	class := status / 100
	if class < 0 || class >= len(p.requests) {
		class = 0
	}
	p.requests[class].Add(1)
	if cause != noDrop {
		p.dropped[cause].Add(1)
	}
}

// causeOf classifies why a request was dropped, from its error and the
// status it was answered with.
func causeOf(err error, status int) dropCause {
	switch {
	case errors.Is(err, ErrCallbackPanicked):
		return dropPanic
	case errors.Is(err, errTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return dropTimeout
	case errors.Is(err, ErrTooLarge), status == 413, status == 414, status == 431:
		return dropLimit
	case errors.Is(err, ErrDropped):
		return dropApplication
	case errors.Is(err, ErrServerClosed):
		return dropShutdown
	case errors.Is(err, ErrClientGone), isNetClose(err):
		return dropClientGone
	case status == 400, status == 501, errors.Is(err, http1.ErrMalformed):
		return dropMalformed
	}
	return dropOther
}

// countHeadError counts a request whose head could not be read, answered
// with status (0: the client left mid-head).
func (c *conn) countHeadError(err error, status int) {
	c.st.count(status, causeOf(err, status))
}

// countIn and countOut add bytes read from and written to a client.
func (p *statStripe) countIn(n int) {
	if n > 0 {
		p.in.Add(uint64(n))
	}
}

func (p *statStripe) countOut(n int64) {
	p.writes.Add(1)
	if n > 0 {
		p.out.Add(uint64(n))
	}
}

// uploadStarted counts a body being streamed to temp files until the
// returned function is called.
func (s *Server) uploadStarted() func() {
	s.stats.uploads.Add(1)
	return func() { s.stats.uploads.Add(-1) }
}

// fileArrives lists a temp file as holding upload bytes in TmpPath;
// fileLeaves takes it off once it has been removed or moved away.
func (s *Server) fileArrives(f *MultipartFile) {
	s.stats.filesMu.Lock()
	if s.stats.files == nil {
		s.stats.files = map[*MultipartFile]struct{}{}
	}
	s.stats.files[f] = struct{}{}
	s.stats.filesMu.Unlock()
}

func (s *Server) fileLeaves(f *MultipartFile) {
	s.stats.filesMu.Lock()
	delete(s.stats.files, f)
	s.stats.filesMu.Unlock()
}
