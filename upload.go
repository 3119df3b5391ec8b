package httpev

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sync/atomic"
	"syscall"

	"github.com/httpev/httpev/internal/form"
	"github.com/httpev/httpev/internal/multipart"
)

// errDisk marks a failure writing a received file, answered with 500 (507
// when the disk is full).
var errDisk = errors.New("httpev: writing received file")

// upload receives one multipart body for one request: it is the
// multipart.Handler, and its methods run on the connection goroutine.
type upload struct {
	c        *conn
	q        *CGI
	buf      *uploadBuf
	budget   chan struct{} // tokens for the buffers the upload may hold (uploadBufs)
	fields   int
	total    int64
	field    []byte // value of the form field being received
	file     *MultipartFile
	fw       FileWriter
	asyncErr atomic.Pointer[error] // first failure of a file write or its OnFileWrite, set by the writer

	// Chunks handed to the FileWriter, in the order its done callbacks
	// come back; with written and onWrite bound once per upload, a chunk
	// costs no allocation (at 16 KB chunks, the garbage of a closure per
	// chunk was enough to double the heap between collections).
	queue   chunkQueue
	written func(error) // u.chunkWritten
	onWrite *reusedHook // calls OnFileWrite with cur
	cur     fileChunk   // the chunk whose done runs: the writer's, one at a time
}

// readMultipart streams a multipart/form-data body: fields into memory up to
// their limits, files chunk by chunk into temp files.
func (c *conn) readMultipart(q *CGI) (int, error) {
	defer c.srv.uploadStarted()()
	boundary, err := multipart.Boundary(string(c.req.ContentType))
	if err != nil {
		return 400, err
	}
	if max := c.srv.opts.MaxRequestBody; max > 0 && c.req.ContentLength > max {
		return 413, fmt.Errorf("%w: body of %d bytes", ErrTooLarge, c.req.ContentLength)
	}
	if f := c.l.opts.OnMultipart; f != nil {
		if err := hook(&c.l.exec, "OnMultipart", func() { f(q) }); err != nil {
			return uploadStatus(err), err
		}
	}
	u := &upload{c: c, q: q}
	p := multipart.NewParser(boundary, multipart.Limits{}, u)
	err = u.pump(q.body, func(data []byte, eof bool) (int, bool, error) {
		n, err := p.Feed(data, eof)
		return n, p.Done(), err
	})
	if err == nil {
		return 0, nil
	}
	return uploadStatus(err), err
}

// readRawToFile streams a body that is not a form into a temp file (a PUT
// of a file, curl -T), with the same callbacks as a multipart file.
func (c *conn) readRawToFile(q *CGI) (int, error) {
	defer c.srv.uploadStarted()()
	if max := c.srv.opts.MaxRequestBody; max > 0 && c.req.ContentLength > max {
		return 413, fmt.Errorf("%w: body of %d bytes", ErrTooLarge, c.req.ContentLength)
	}
	u := &upload{c: c, q: q}
	part := &multipart.Part{Name: "", FileName: path.Base(string(c.req.Path)), IsFile: true,
		ContentType: string(c.req.ContentType)}
	if err := u.PartBegin(part); err != nil {
		return uploadStatus(err), err
	}
	err := u.pump(q.body, func(data []byte, eof bool) (int, bool, error) {
		if len(data) > 0 {
			if err := u.PartData(part, data); err != nil {
				return 0, false, err
			}
		}
		if eof {
			return len(data), true, u.PartEnd(part)
		}
		return len(data), false, nil
	})
	if err == nil {
		return 0, nil
	}
	return uploadStatus(err), err
}

func uploadStatus(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, multipart.ErrHeaderTooLarge):
		return 413
	case errors.Is(err, syscall.ENOSPC):
		return 507
	case errors.Is(err, errDisk), errors.Is(err, ErrCallbackPanicked):
		return 500
	case errors.Is(err, ErrDropped):
		return 0
	case errors.Is(err, multipart.ErrMalformed), errors.Is(err, multipart.ErrUnexpectedEOF):
		if isNetClose(err) {
			return 0
		}
		return 400
	}
	return bodyErrorStatus(err)
}

// pump reads the body into pooled buffers and feeds them to the parser
// until it reports done. The unconsumed tail (a partial boundary or part
// header) is carried to the front of the next read.
func (u *upload) pump(body io.Reader, feed func(data []byte, eof bool) (int, bool, error)) (err error) {
	defer func() {
		if u.fw != nil { // cut mid-file: finish the writer so its file can go
			_ = u.fw.Close()
			u.fw = nil
		}
	}()
	u.budget = newUploadBudget()
	u.buf = u.c.srv.getUploadBuf(u.budget)
	defer func() { u.buf.release() }()
	start, end := 0, 0
	for {
		if err := u.q.waitResumed(); err != nil {
			return err
		}
		n, rerr := body.Read(u.buf.b[end:])
		end += n
		eof := rerr == io.EOF
		if rerr != nil && !eof {
			return rerr
		}
		consumed, done, perr := feed(u.buf.b[start:end], eof)
		if perr == nil {
			perr = u.failure()
		}
		if perr != nil {
			return perr
		}
		start += consumed
		if done {
			return drainEpilogue(body)
		}
		if eof {
			return fmt.Errorf("%w: body ended early", multipart.ErrUnexpectedEOF)
		}
		u.nextBuffer(&start, &end)
	}
}

// nextBuffer makes room for the next read. A buffer no disk write holds is
// reused in place; one still being written from is left to the writer, and
// reading goes on after it or in a fresh buffer, so chunks are never copied.
// A buffer of the size uploads no longer take (uploadBufSize) is swapped as
// soon as the next one is needed.
func (u *upload) nextBuffer(start, end *int) {
	fits := len(u.buf.b) == u.c.srv.uploadBufSize()
	if fits && u.buf.refs.Load() == 1 {
		n := copy(u.buf.b, u.buf.b[*start:*end])
		*start, *end = 0, n
		return
	}
	if fits && len(u.buf.b)-*end >= len(u.buf.b)/4 {
		return
	}
	nb := u.c.srv.getUploadBuf(u.budget)
	n := copy(nb.b, u.buf.b[*start:*end])
	u.buf.release()
	u.buf = nb
	*start, *end = 0, n
}

func drainEpilogue(body io.Reader) error {
	_, err := io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	return err
}

func (u *upload) failure() error {
	if e := u.asyncErr.Load(); e != nil {
		return *e
	}
	return u.q.Err()
}

// PartBegin implements multipart.Handler.
func (u *upload) PartBegin(p *multipart.Part) error {
	o := &u.c.srv.opts
	u.fields++
	if u.fields > o.MaxFormFields {
		return fmt.Errorf("%w: more than %d form fields", ErrTooLarge, o.MaxFormFields)
	}
	if len(p.Name) > o.MaxFieldName {
		return fmt.Errorf("%w: form field name of %d bytes", ErrTooLarge, len(p.Name))
	}
	if !p.IsFile {
		u.field = u.field[:0]
		return nil
	}
	fw, err := u.c.srv.io.Create(u.c.srv.opts.TmpPath)
	if err != nil {
		return fmt.Errorf("%w: %w", errDisk, err)
	}
	f := &MultipartFile{srv: u.c.srv, exec: &u.c.l.exec, raw: p.FileName,
		name:  u.c.srv.fieldDec.Text([]byte(multipart.SafeFileName(p.FileName))),
		field: u.c.srv.fieldDec.Text([]byte(p.Name)), ctype: p.ContentType, path: fw.Path()}
	u.file, u.fw = f, fw
	u.c.srv.fileArrives(f)
	u.q.mu.Lock()
	in := u.q.inputLocked()
	in.files = append(in.files, f)
	u.q.mu.Unlock()
	u.q.hasFiles.Store(true)
	if cb := u.c.l.opts.OnFileOpen; cb != nil {
		return hook(&u.c.l.exec, "OnFileOpen", func() { cb(u.q, f) })
	}
	return nil
}

// PartData implements multipart.Handler.
func (u *upload) PartData(p *multipart.Part, data []byte) error {
	o := &u.c.srv.opts
	u.total += int64(len(data))
	if o.MaxRequestBody > 0 && u.total > o.MaxRequestBody {
		return fmt.Errorf("%w: body over %d bytes", ErrTooLarge, o.MaxRequestBody)
	}
	if !p.IsFile {
		if len(u.field)+len(data) > o.MaxFieldValue {
			return fmt.Errorf("%w: form field %q over %d bytes", ErrTooLarge, p.Name, o.MaxFieldValue)
		}
		u.field = append(u.field, data...)
		return nil
	}
	f := u.file
	if o.MaxFileSize > 0 && f.pending+int64(len(data)) > o.MaxFileSize {
		return fmt.Errorf("%w: file over %d bytes", ErrTooLarge, o.MaxFileSize)
	}
	f.pending += int64(len(data))
	u.buf.refs.Add(1)
	u.queue.push(fileChunk{buf: u.buf, file: f, data: data})
	if u.written == nil {
		u.written = u.chunkWritten
	}
	u.fw.Write(data, u.written)
	return nil
}

// chunkWritten is the FileWriter's done for the oldest chunk queued.
func (u *upload) chunkWritten(err error) {
	ch := u.queue.pop()
	defer ch.buf.release()
	if err != nil {
		u.fail(fmt.Errorf("%w: %w", errDisk, err))
		return
	}
	ch.file.size.Add(int64(len(ch.data)))
	cb := u.c.l.opts.OnFileWrite
	if cb == nil || u.asyncErr.Load() != nil {
		return
	}
	if u.onWrite == nil {
		u.onWrite = newReusedHook(&u.c.l.exec, "OnFileWrite", func() { cb(u.q, u.cur.file, u.cur.data) })
	}
	u.cur = ch
	herr := u.onWrite.call()
	u.cur = fileChunk{}
	if herr != nil {
		u.fail(herr)
	}
}

// fail records the upload's first failure off the reading goroutine. It
// takes err by value so that its callers' variables stay on their stacks.
func (u *upload) fail(err error) {
	u.asyncErr.CompareAndSwap(nil, &err)
}

// PartEnd implements multipart.Handler.
func (u *upload) PartEnd(p *multipart.Part) error {
	if !p.IsFile {
		name, value := u.c.srv.fieldDec.Text([]byte(p.Name)), u.c.srv.fieldDec.Text(u.field)
		u.q.mu.Lock()
		in := u.q.inputLocked()
		in.post = append(in.post, form.Pair{Name: name, Value: value})
		u.q.mu.Unlock()
		return nil
	}
	fw, f := u.fw, u.file
	u.fw, u.file = nil, nil
	if err := fw.Close(); err != nil {
		return fmt.Errorf("%w: %w", errDisk, err)
	}
	if err := u.failure(); err != nil {
		return err
	}
	if cb := u.c.l.opts.OnFileReceived; cb != nil {
		return hook(&u.c.l.exec, "OnFileReceived", func() { cb(u.q, f) })
	}
	return nil
}

// Stop pauses reading the request body, from a multipart callback: the
// client's TCP window fills and it waits (backpressure). Start resumes.
// The inactivity Timeout does not run while paused.
func (q *CGI) Stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if in := q.inputLocked(); in.resume == nil {
		in.resume = make(chan struct{})
	}
}

// Start resumes reading the body after Stop.
func (q *CGI) Start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.in != nil && q.in.resume != nil {
		close(q.in.resume)
		q.in.resume = nil
	}
}

// waitResumed blocks while the body is paused; it fails if the request is
// dropped meanwhile.
func (q *CGI) waitResumed() error {
	var ch chan struct{}
	q.mu.Lock()
	if q.in != nil {
		ch = q.in.resume
	}
	q.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-q.cn.srv.ctx.Done():
			return ErrServerClosed
		}
	}
	return q.Err()
}
