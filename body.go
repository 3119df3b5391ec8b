package httpev

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/httpev/httpev/internal/http1"
)

// checkRequest applies the limits that the head alone decides, before any
// of the body is read: the query string is measured against the decoder's
// own limits (not decoded; that happens on first use and cannot fail then).
func (c *conn) checkRequest() (int, error) {
	if err := c.srv.queryDec.CheckQuery(c.req.RawQuery); err != nil {
		return 414, fmt.Errorf("%w: query string: %w", ErrTooLarge, err)
	}
	return 0, nil
}

// mediaType returns the type/subtype of a Content-Type when it is one the
// server parses itself, "" otherwise (nothing to allocate for the rest).
func mediaType(ct []byte) string {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	switch {
	case bytes.EqualFold(ct, []byte("application/x-www-form-urlencoded")):
		return "application/x-www-form-urlencoded"
	case bytes.EqualFold(ct, []byte("multipart/form-data")):
		return "multipart/form-data"
	}
	return ""
}

// readBody receives what the server parses itself before the callback
// runs: an urlencoded form into memory, a multipart form to disk. Any other
// body stays on the socket for the callback to read from Body.
func (c *conn) readBody(q *CGI) (int, error) {
	req := &c.req
	if req.ContentLength <= 0 && !req.Chunked {
		return 0, nil
	}
	q.body = newBodyReader(c, q)
	switch mediaType(req.ContentType) {
	case "application/x-www-form-urlencoded":
		return c.readForm(q)
	case "multipart/form-data":
		return c.readMultipart(q)
	}
	if c.l.opts.RawBodyToFile {
		return c.readRawToFile(q)
	}
	return 0, nil
}

// readForm reads an urlencoded body, at most MaxFormBody bytes.
func (c *conn) readForm(q *CGI) (int, error) {
	limit := c.srv.opts.MaxFormBody
	var data []byte
	var err error
	if n := c.req.ContentLength; n >= 0 {
		if n > limit {
			return 413, fmt.Errorf("%w: form body of %d bytes", ErrTooLarge, n)
		}
		data = make([]byte, n)
		_, err = io.ReadFull(q.body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(q.body, limit+1))
		if err == nil && int64(len(data)) > limit {
			return 413, fmt.Errorf("%w: form body", ErrTooLarge)
		}
	}
	if err != nil {
		return bodyErrorStatus(err), err
	}
	post, err := c.srv.bodyDec.ParseQuery(nil, data)
	if err != nil {
		return 413, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if len(post) > 0 {
		q.mu.Lock()
		in := q.inputLocked()
		in.post = append(in.post, post...)
		q.mu.Unlock()
	}
	return 0, nil
}

// bodyErrorStatus maps a body read error to the status to answer with; 0
// means the client is gone and gets no answer.
func bodyErrorStatus(err error) int {
	switch {
	case errors.Is(err, errTimeout):
		return 408
	case errors.Is(err, ErrTooLarge):
		return 413
	case isNetClose(err):
		return 0
	}
	return http1.StatusOf(err)
}

// bodyReader is the request body as the callback reads it: bounded by
// Content-Length or decoded from chunked coding, with the listener's
// inactivity timeout on every read and 100 Continue sent before the first.
type bodyReader struct {
	c   *conn
	q   *CGI
	n   int64 // bytes left, Content-Length bodies
	eof bool
	err error

	// broken is set once the body can no longer end cleanly: its framing
	// failed, it was cut short, a read timed out or failed, or settle had
	// to leave it unread. It is the one place the rule "a body that did not
	// end cleanly finishes its connection" is decided: the response head
	// then says Connection: close (appendHead) and nothing after it is
	// parsed (keepAlive), whatever the callback read or answered, because
	// where this body ends and the next request starts is unknown. Set by
	// whichever goroutine reads the body, read by the connection's.
	broken atomic.Bool
}

func newBodyReader(c *conn, q *CGI) *bodyReader {
	b := &bodyReader{c: c, q: q, n: c.req.ContentLength}
	if c.req.Chunked {
		if c.chunked == nil {
			c.chunked = new(http1.ChunkedReader)
		}
		c.chunked.Reset(&c.cr, c.srv.chunkLimits)
	}
	return b
}

func (b *bodyReader) done() bool { return b.eof || b.err != nil }

// Read implements io.Reader.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if err := b.c.continue100(b.q); err != nil {
		b.err = err
		return 0, err
	}
	b.c.cr.timeout = b.c.l.timeout
	var n int
	var err error
	if b.c.req.Chunked {
		n, err = b.c.chunked.Read(p)
	} else {
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err = b.c.cr.Read(p)
		b.n -= int64(n)
		if b.n == 0 {
			err = io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.err = err
		b.broken.Store(true)
	}
	return n, err
}

// settleBody runs once the response is complete, before its head goes out
// if it has not yet: it discards what the callback left unread, at most
// maxDrain bytes, so that the head can tell the client whether the
// connection stays open (net/http does the same). A body that does not
// reach its clean end here is marked broken; one whose client still waits
// for 100 Continue is never sent, so it is not waited for either.
func (c *conn) settleBody(q *CGI) {
	b := q.body
	if b == nil || b.done() {
		return
	}
	if c.req.Expect100 && !q.continueSent {
		b.broken.Store(true)
		return
	}
	_, _ = io.CopyN(io.Discard, b, maxDrain)
	if !b.eof {
		b.broken.Store(true)
	}
}

// bodyBroken reports whether the request's body failed to end cleanly
// (bodyReader.broken): its connection must not carry another request.
func (q *CGI) bodyBroken() bool { return q.body != nil && q.body.broken.Load() }

// Body returns the request body for the callback to read as a stream. It is
// empty for bodies the server parsed itself (urlencoded and multipart
// forms) and when there is none. Reads time out after ListenOptions.Timeout
// of client inactivity.
func (q *CGI) Body() io.Reader {
	if q.body == nil {
		return http.NoBody
	}
	return q.body
}
