package httpevtest

import (
	"context"
	"net/http"
	"os"
	"sync"

	"github.com/httpev/httpev"
)

// Result is what a callback answered to one request.
type Result struct {
	Status int // 0 when the request was dropped before any response
	Header http.Header
	Body   []byte
	// Files are the files the callback received, in arrival order.
	Files []File
	// Dropped reports a request that got no complete response: the
	// callback called Drop, or the server cut the response.
	Dropped bool
}

// Text returns the body as a string, for assertions.
func (r *Result) Text() string { return string(r.Body) }

// File is a received file as the callback saw it. The content is read
// just before the callback runs, because the temp file is removed when
// the request ends.
type File struct {
	Field       string // the form field; "" for a raw body (ListenOptions.RawBodyToFile)
	Name        string // the safe file name, MultipartFile.Name
	RawName     string // the file name as the client sent it
	ContentType string
	Size        int64
	Content     []byte
	// SavedTo is where the callback saved the file (MultipartFile.Save),
	// "" when it left it to be removed.
	SavedTo string
}

// capture collects the files of one request; the callback wrapper finds
// it through the bridged request's context.
type capture struct {
	mu    sync.Mutex
	files []File
	mf    []*httpev.MultipartFile
	temp  []string
}

type captureKey struct{}

func withCapture(ctx context.Context, c *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

// capturing wraps a callback so that every request records its files
// before the callback can move or remove them.
func capturing(cb func(*httpev.CGI)) func(*httpev.CGI) {
	return func(c *httpev.CGI) {
		if r := httpev.HTTPRequest(c); r != nil {
			if cp, ok := r.Context().Value(captureKey{}).(*capture); ok {
				cp.record(c)
			}
		}
		cb(c)
	}
}

func (cp *capture) record(c *httpev.CGI) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, f := range c.Files() {
		content, _ := os.ReadFile(f.Path())
		cp.files = append(cp.files, File{Field: f.FieldName(), Name: f.Name(), RawName: f.RawName(),
			ContentType: f.ContentType(), Size: f.Size(), Content: content})
		cp.mf = append(cp.mf, f)
		cp.temp = append(cp.temp, f.Path())
	}
}

// result returns the files with where they ended up.
func (cp *capture) result() []File {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for i, f := range cp.mf {
		if p := f.Path(); p != cp.temp[i] {
			cp.files[i].SavedTo = p
		}
	}
	return cp.files
}
