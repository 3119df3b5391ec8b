package multipart

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"unsafe"
)

// gotPart is a Part as a recorder saw it, content included.
type gotPart struct {
	Name, FileName string
	IsFile         bool
	ContentType    string
	Data           string
}

// recorder is a Handler that checks the Handler contract as it records.
type recorder struct {
	parts   []gotPart
	data    []*bytes.Buffer // content of parts[i]; see result
	headers [][][2]string
	cur     *Part
	fed     []byte // the slice passed to the Feed in progress
	bad     error  // first contract violation
}

func (r *recorder) fail(format string, args ...any) error {
	if r.bad == nil {
		r.bad = fmt.Errorf(format, args...)
	}
	return r.bad
}

func (r *recorder) PartBegin(p *Part) error {
	if r.cur != nil {
		return r.fail("PartBegin before PartEnd")
	}
	r.cur = p
	r.parts = append(r.parts, gotPart{Name: p.Name, FileName: p.FileName, IsFile: p.IsFile, ContentType: p.ContentType})
	r.data = append(r.data, new(bytes.Buffer))
	r.headers = append(r.headers, p.Header)
	return nil
}

func (r *recorder) PartData(p *Part, data []byte) error {
	switch {
	case p != r.cur || p == nil:
		return r.fail("PartData for a part not begun")
	case len(data) == 0:
		return r.fail("empty PartData")
	case r.fed != nil && !within(data, r.fed):
		return r.fail("PartData not a sub-slice of the fed buffer")
	}
	r.data[len(r.data)-1].Write(data)
	return nil
}

func (r *recorder) PartEnd(p *Part) error {
	if p != r.cur || p == nil {
		return r.fail("PartEnd for a part not begun")
	}
	r.cur = nil
	return nil
}

// result returns the parts recorded, content included.
func (r *recorder) result() []gotPart {
	for i, d := range r.data {
		r.parts[i].Data = d.String()
	}
	return r.parts
}

// within reports whether sub lies inside buf's memory: proof of no copy.
func within(sub, buf []byte) bool {
	if len(buf) == 0 {
		return false
	}
	s, b := uintptr(unsafe.Pointer(unsafe.SliceData(sub))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return s >= b && s+uintptr(len(sub)) <= b+uintptr(len(buf))
}

// feedChunks feeds body like a server: each Feed sees the unconsumed tail
// of the previous one followed by at most chunk new bytes. It checks the
// Feed contract on the way and returns the largest tail left.
func feedChunks(p *Parser, r *recorder, body []byte, chunk int) (maxTail int, err error) {
	var tail []byte
	off := 0
	for {
		n := min(chunk, len(body)-off)
		buf := make([]byte, 0, len(tail)+n) // fresh memory: catches retained slices
		buf = append(append(buf, tail...), body[off:off+n]...)
		off += n
		eof := off == len(body)
		r.fed = buf
		c, err := p.Feed(buf, eof)
		r.fed = nil
		if r.bad != nil {
			return maxTail, r.bad
		}
		if c < 0 || c > len(buf) {
			return maxTail, fmt.Errorf("consumed %d of %d", c, len(buf))
		}
		if err != nil {
			return maxTail, err
		}
		tail = buf[c:]
		maxTail = max(maxTail, len(tail))
		if len(tail) > p.MaxTail() {
			return maxTail, fmt.Errorf("%d bytes unconsumed, MaxTail %d", len(tail), p.MaxTail())
		}
		if eof {
			if !p.Done() {
				return maxTail, fmt.Errorf("no error at EOF but not Done")
			}
			return maxTail, nil
		}
	}
}

// parseChunks parses body in chunks of the given size with default limits.
func parseChunks(body []byte, boundary string, lim Limits, chunk int) ([]gotPart, error) {
	r := new(recorder)
	p := NewParser(boundary, lim, r)
	_, err := feedChunks(p, r, body, chunk)
	return r.result(), err
}

// parseSplit feeds body in exactly two Feeds split at i (plus tails).
func parseSplit(body []byte, boundary string, i int) ([]gotPart, error) {
	r := new(recorder)
	p := NewParser(boundary, Limits{}, r)
	var err error
	feed := func(buf []byte, eof bool) []byte {
		if err != nil {
			return nil
		}
		r.fed = buf
		var c int
		c, err = p.Feed(buf, eof)
		r.fed = nil
		if r.bad != nil {
			err = r.bad
		}
		if err == nil && len(buf)-c > p.MaxTail() {
			err = fmt.Errorf("%d bytes unconsumed", len(buf)-c)
		}
		return buf[c:]
	}
	tail := feed(bytes.Clone(body[:i]), false)
	feed(append(bytes.Clone(tail), body[i:]...), true)
	if err == nil && !p.Done() {
		err = fmt.Errorf("not Done")
	}
	return r.result(), err
}

// writerPart is a part for buildBody.
type writerPart struct {
	name, filename, contentType, data string
	header                            map[string]string // raw header, instead of the fields above
}

// buildBody makes a body with Go's mime/multipart.Writer.
func buildBody(boundary string, parts ...writerPart) []byte {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(boundary); err != nil {
		panic(err)
	}
	for _, p := range parts {
		h := make(map[string][]string)
		if p.header != nil {
			for k, v := range p.header {
				h[k] = []string{v}
			}
		} else {
			disp := fmt.Sprintf(`form-data; name=%q`, p.name)
			if p.filename != "" {
				disp += fmt.Sprintf(`; filename=%q`, p.filename)
			}
			h["Content-Disposition"] = []string{disp}
			if p.contentType != "" {
				h["Content-Type"] = []string{p.contentType}
			}
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			panic(err)
		}
		pw.Write([]byte(p.data))
	}
	w.Close()
	return buf.Bytes()
}
