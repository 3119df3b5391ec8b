package httpev

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// maxCachedTypes bounds headerCache: content types come from the
// application, but one that builds them from request input must not grow
// the cache without end.
const maxCachedTypes = 64

// headerCache holds read-only response headers that carry a Content-Type
// and nothing else, one per value, so that the commonest Header call (a
// content type alone) shares one map instead of copying the caller's: a
// map and a slice fewer per request, about a microsecond on a 2-core
// machine. The maps are never modified once stored; the connection code
// only reads a response's header. Past maxCachedTypes values Header copies
// as before.
type headerCache struct {
	m sync.Map // string → *cachedType
	n atomic.Int32
	// last is the entry found last: most servers send one or two content
	// types, and a string comparison is cheaper than the map's hashing.
	last atomic.Pointer[cachedType]
}

// cachedType is one shared Content-Type-only header and its line as
// written on the wire, so that appendHead copies the line instead of
// iterating the map (a map iteration draws a random number and hashes:
// about a tenth of a small pipelined response's head).
type cachedType struct {
	v    string
	h    http.Header
	line []byte // "Content-Type: v\r\n"; empty for "" (no Content-Type at all)
}

// typeOnly returns the shared head for h when h is a Content-Type alone,
// one value, that the cache holds or takes: the commonest head, which
// CGI.Header and ServeHandler's writer then send without a map of their
// own.
func (hc *headerCache) typeOnly(h http.Header) (*cachedType, bool) {
	if vs := h["Content-Type"]; len(h) == 1 && len(vs) == 1 {
		return hc.contentType(vs[0])
	}
	return nil, false
}

// contentType returns the shared header for v, or false when the cache
// is full.
func (hc *headerCache) contentType(v string) (*cachedType, bool) {
	if ct := hc.last.Load(); ct != nil && ct.v == v {
		return ct, true
	}
	if ct, ok := hc.m.Load(v); ok {
		hc.last.Store(ct.(*cachedType))
		return ct.(*cachedType), true
	}
	if hc.n.Add(1) > maxCachedTypes {
		hc.n.Add(-1)
		return nil, false
	}
	ct := &cachedType{v: v, h: http.Header{"Content-Type": {v}}, line: []byte{}}
	if v != "" {
		ct.line = appendHeaderLine(nil, "Content-Type", v)
	}
	got, loaded := hc.m.LoadOrStore(v, ct)
	if loaded {
		hc.n.Add(-1)
	}
	return got.(*cachedType), true
}
