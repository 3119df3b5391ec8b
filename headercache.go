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
	m sync.Map // string → http.Header
	n atomic.Int32
}

// contentType returns the shared header for v, or false when the cache
// is full.
func (hc *headerCache) contentType(v string) (http.Header, bool) {
	if h, ok := hc.m.Load(v); ok {
		return h.(http.Header), true
	}
	if hc.n.Add(1) > maxCachedTypes {
		hc.n.Add(-1)
		return nil, false
	}
	h, loaded := hc.m.LoadOrStore(v, http.Header{"Content-Type": {v}})
	if loaded {
		hc.n.Add(-1)
	}
	return h.(http.Header), true
}
