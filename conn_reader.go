package httpev

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpev/httpev/internal/http1"
)

// errBufferFull is returned by fill when the read buffer has no room left;
// the head reader grows the buffer, everyone else treats it as a limit.
var errBufferFull = errors.New("httpev: read buffer full")

// aLongTimeAgo is a deadline that makes a blocked Read return at once.
var aLongTimeAgo = time.Unix(1, 0)

var timeZero time.Time

// connReader is the connection's single read buffer. The current request's
// head stays pinned at the front (buf[:pin]) for the life of the request so
// that the parser's slices into it stay valid; body bytes and pipelined
// requests flow through the rest. It implements http1.Source for the chunked
// decoder. Large reads bypass the buffer so that upload data is copied from
// the socket exactly once, into the caller's buffer.
type connReader struct {
	conn    net.Conn
	buf     []byte
	bufp    *[]byte // the pooled buffer buf came from, nil once grown
	r, w    int
	pin     int
	st      *statStripe   // counts the bytes read
	timeout time.Duration // inactivity deadline set before each read; 0 = none
	headBy  time.Time     // the whole head must have arrived by then; zero = no bound
	err     error         // sticky
	// readAt is when the last read brought bytes: the arrival time of the
	// requests found in them (CGI.from). One clock reading per read, not
	// per request: pipelined requests share their batch's.
	readAt time.Time
	// beforeRead runs before every read of the socket: answers held back
	// are written first, so they never wait on the client (pipeline.go).
	beforeRead func() error

	// background read, for noticing a client that goes away while its
	// request is being answered
	bgMu      sync.Mutex
	bgRunning bool          // guarded by bgMu
	bgDone    chan struct{} // guarded by bgMu
	bgLater   func()        // guarded by bgMu: a background read to start later (startLaterRead)
	// bgSet is bgRunning || bgLater != nil, written under bgMu: it lets
	// abortBackgroundRead, which runs after every request, skip bgMu when
	// no background read was asked for.
	bgSet atomic.Bool
	// Written by the background read, read by the connection's goroutine
	// once bgDone is closed (or before one starts).
	bgByte [1]byte
	bgHave bool
	bgErr  error
}

func (cr *connReader) buffered() int { return cr.w - cr.r }

// compact moves unread bytes down to the pin so there is room to read.
func (cr *connReader) compact() {
	if cr.r > cr.pin {
		n := copy(cr.buf[cr.pin:], cr.buf[cr.r:cr.w])
		cr.r, cr.w = cr.pin, cr.pin+n
	}
}

// fill reads at least one more byte into the buffer.
func (cr *connReader) fill() error {
	if cr.err != nil {
		return cr.err
	}
	if cr.bgHave { // the byte the background read caught
		if cr.w == len(cr.buf) {
			cr.compact()
		}
		cr.buf[cr.w] = cr.bgByte[0]
		cr.w++
		cr.bgHave = false
		return nil
	}
	if cr.w == len(cr.buf) {
		cr.compact()
		if cr.w == len(cr.buf) {
			return errBufferFull
		}
	}
	n, err := cr.readConn(cr.buf[cr.w:])
	cr.w += n
	if n > 0 {
		return nil
	}
	return err
}

func (cr *connReader) readConn(p []byte) (int, error) {
	if err := cr.beforeRead(); err != nil {
		cr.err = err
		return 0, err
	}
	if cr.timeout > 0 {
		d := time.Now().Add(cr.timeout)
		if !cr.headBy.IsZero() && cr.headBy.Before(d) {
			d = cr.headBy
		}
		_ = cr.conn.SetReadDeadline(d)
	}
	n, err := cr.conn.Read(p)
	if n > 0 {
		cr.readAt = time.Now()
	}
	cr.st.countIn(n)
	if err != nil && n == 0 {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errTimeout
		}
		cr.err = err
	}
	return n, err
}

// Read implements io.Reader over the body bytes.
func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if cr.r == cr.w {
		if cr.err != nil {
			return 0, cr.err
		}
		if len(p) >= len(cr.buf)-cr.pin && !cr.bgHave {
			return cr.readConn(p) // straight into the caller's buffer
		}
		cr.r, cr.w = cr.pin, cr.pin
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	return n, nil
}

// ReadLine implements http1.Source: the next line with its terminator,
// at most max bytes long.
func (cr *connReader) ReadLine(max int) ([]byte, error) {
	for {
		if i := bytes.IndexByte(cr.buf[cr.r:cr.w], '\n'); i >= 0 {
			if i+1 > max {
				return nil, http1.ErrLineTooLong
			}
			line := cr.buf[cr.r : cr.r+i+1]
			cr.r += i + 1
			return line, nil
		}
		if cr.buffered() >= max {
			return nil, http1.ErrLineTooLong
		}
		if err := cr.fill(); err != nil {
			switch {
			case errors.Is(err, errBufferFull):
				return nil, http1.ErrLineTooLong
			case err == io.EOF && cr.buffered() > 0:
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// startBackgroundRead watches the idle socket while a fully received request
// is answered: a read error means the client is gone and onGone runs; a byte
// (a pipelined request) is kept for the next fill. With later, it only
// notes the wish: startLaterRead (Linux) starts it, unless the request ends first
// (abortBackgroundRead), which costs a request that ends quickly nothing.
// over is the request's ended flag: a watch asked for from another
// goroutine as the request ends must not read the next one. The request
// ends (CGI.cancelCtx) before abortBackgroundRead looks at bgSet, and this
// stores bgSet before it looks at over: one of the two sees the other.
func (cr *connReader) startBackgroundRead(onGone func(), later bool, over *atomic.Bool) {
	cr.bgMu.Lock()
	if cr.bgRunning || cr.err != nil || cr.bgHave || cr.buffered() > 0 {
		cr.bgMu.Unlock()
		return
	}
	cr.bgSet.Store(true)
	if over.Load() {
		cr.bgSet.Store(cr.bgLater != nil)
		cr.bgMu.Unlock()
		return
	}
	if later {
		cr.bgLater = onGone
		cr.bgSet.Store(true)
		cr.bgMu.Unlock()
		return
	}
	cr.startLocked(onGone)
}

// startLocked starts the background read and releases bgMu.
func (cr *connReader) startLocked(onGone func()) {
	cr.bgLater = nil
	cr.bgRunning = true
	cr.bgSet.Store(true)
	cr.bgDone = make(chan struct{})
	_ = cr.conn.SetReadDeadline(time.Time{})
	cr.bgMu.Unlock() // abortBackgroundRead waits for bgDone: it is set
	go func() {
		defer close(cr.bgDone)
		n, err := cr.conn.Read(cr.bgByte[:])
		if n == 1 {
			cr.st.countIn(1)
			cr.bgHave = true
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // stopped by abortBackgroundRead
		}
		cr.bgErr = err
		onGone()
	}()
}

// abortBackgroundRead stops a background read and waits for it to end.
func (cr *connReader) abortBackgroundRead() {
	if !cr.bgSet.Load() {
		return // a start racing with this is one that came after it
	}
	cr.bgMu.Lock()
	defer cr.bgMu.Unlock()
	cr.bgLater = nil // the request is over: a late start must not read the next one
	defer cr.bgSet.Store(false)
	if !cr.bgRunning {
		return
	}
	_ = cr.conn.SetReadDeadline(aLongTimeAgo)
	<-cr.bgDone
	_ = cr.conn.SetReadDeadline(time.Time{})
	cr.bgRunning = false
	if cr.bgErr != nil {
		cr.err = cr.bgErr
		cr.bgErr = nil
	}
}
