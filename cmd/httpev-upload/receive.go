package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"

	"github.com/httpev/httpev"
)

// receiver computes the SHA-256 of every arriving file from the chunks
// OnFileWrite hands over, so a file is read once, off the socket, and never
// again from disk; and it reports each file's bytes on disk to the page that
// sent it. It serves every multipart request, so /echo gets its hashes the
// same way uploads do.
type receiver struct {
	hub *hub

	mu       sync.Mutex
	requests map[*httpev.CGI]*receipt
	files    map[*httpev.MultipartFile]*arriving
}

// receipt is what one multipart request is receiving.
type receipt struct {
	session string // the page's progress stream, "" if none was named
	key     string // which of the page's uploads this is
	files   []*httpev.MultipartFile
}

// arriving is one file being received. Its OnFileWrite calls come one after
// another, but in different goroutines depending on the IO backend and the
// threading mode, so the hash has its own lock rather than trusting that.
type arriving struct {
	mu    sync.Mutex
	h     hash.Hash
	sum   string // set once the file is complete
	index int    // position among the request's files
}

// newReceiver returns a receiver that reports progress to h.
func newReceiver(h *hub) *receiver {
	return &receiver{hub: h, requests: map[*httpev.CGI]*receipt{},
		files: map[*httpev.MultipartFile]*arriving{}}
}

// onMultipart registers the request before its first file part. The
// bookkeeping is dropped when the request's context ends, which the library
// guarantees on every path (answered, dropped, client gone, server closed),
// so a request cut mid-upload leaves nothing behind.
func (r *receiver) onMultipart(c *httpev.CGI) {
	rc := &receipt{session: sessionID(c.Param("id")), key: progressKey(c.Param("key"))}
	r.mu.Lock()
	r.requests[c] = rc
	r.mu.Unlock()
	if rc.session != "" {
		r.hub.beginUpload(rc.session)
	}
	context.AfterFunc(c.Context(), func() { r.forget(c) })
}

// forget drops a finished request's bookkeeping and tells the hub its
// upload is over.
func (r *receiver) forget(c *httpev.CGI) {
	r.mu.Lock()
	rc := r.requests[c]
	delete(r.requests, c)
	if rc != nil {
		for _, f := range rc.files {
			delete(r.files, f)
		}
	}
	r.mu.Unlock()
	if rc != nil && rc.session != "" {
		r.hub.endUpload(rc.session)
	}
}

// onFileOpen starts the file's hash before its first chunk.
func (r *receiver) onFileOpen(c *httpev.CGI, f *httpev.MultipartFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.requests[c]
	if rc == nil {
		return // OnMultipart always comes first; nothing to attach to otherwise
	}
	r.files[f] = &arriving{h: sha256.New(), index: len(rc.files)}
	rc.files = append(rc.files, f)
}

// onFileWrite runs once per chunk (up to 64 KB): it hashes the chunk while
// the library still holds it, and publishes the bytes now on disk. Both are
// memory-only and take well under a microsecond per chunk beyond the hash.
func (r *receiver) onFileWrite(c *httpev.CGI, f *httpev.MultipartFile, chunk []byte) {
	a, rc := r.lookup(c, f)
	if a == nil || rc == nil {
		return
	}
	a.mu.Lock()
	a.h.Write(chunk)
	a.mu.Unlock()
	if rc.session != "" {
		r.hub.publish(rc.session, progressEvent{Key: rc.key, Index: a.index, Name: f.Name(), Bytes: f.Size()})
	}
}

// onFileReceived seals the hash and sends the final progress event, the
// one that reports every byte, which coalescing never drops.
func (r *receiver) onFileReceived(c *httpev.CGI, f *httpev.MultipartFile) {
	a, rc := r.lookup(c, f)
	if a == nil || rc == nil {
		return
	}
	a.mu.Lock()
	a.sum = hex.EncodeToString(a.h.Sum(nil))
	a.mu.Unlock()
	if rc.session != "" {
		r.hub.publish(rc.session, progressEvent{Key: rc.key, Index: a.index, Name: f.Name(), Bytes: f.Size(), Done: true})
	}
}

// lookup takes both under one lock, so a request forgotten concurrently is
// seen as wholly gone, never half.
func (r *receiver) lookup(c *httpev.CGI, f *httpev.MultipartFile) (*arriving, *receipt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[f], r.requests[c]
}

// sums returns the SHA-256 of each complete file of the request. The
// request callback calls it: by then every file is complete, and the
// bookkeeping is still there because the request has not ended.
func (r *receiver) sums(c *httpev.CGI) map[*httpev.MultipartFile]string {
	files := c.Files()
	out := make(map[*httpev.MultipartFile]string, len(files))
	for _, f := range files {
		a, _ := r.lookup(c, f)
		if a == nil {
			continue
		}
		a.mu.Lock()
		out[f] = a.sum
		a.mu.Unlock()
	}
	return out
}
