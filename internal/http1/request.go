package http1

// Header is one field line of a request head (or a chunked body's trailer
// section). Name is kept exactly as sent so nothing is copied to canonicalize
// it; compare it with Get or an ASCII case-insensitive match.
type Header struct {
	Name  []byte
	Value []byte // leading and trailing SP / HTAB removed
}

// Request is a parsed request head. Every byte slice points into the buffer
// given to Parse: nothing is copied, so the fields are valid only while that
// buffer is. A Request is meant to be reused for each request on a
// connection; Parse resets it and keeps the Headers capacity, so a warmed-up
// Request parses without allocating. After an error the fields are partial
// and meaningless.
type Request struct {
	Method   []byte // any token, e.g. GET or PURGE
	Target   []byte // request-target as sent
	Path     []byte // Target before the first '?'; for absolute-form only the path part (empty means "/")
	RawQuery []byte // Target after the first '?'; nil without '?', empty for a bare '?'
	Proto    []byte // "HTTP/1.0" or "HTTP/1.1"
	Major    int
	Minor    int

	Headers []Header // every field in arrival order

	// Framing and connection facts the server needs before it can read the
	// body, derived once here so the server never re-scans Headers for them.

	ContentLength int64  // -1 when absent (always -1 when Chunked)
	Chunked       bool   // Transfer-Encoding: chunked; read the body with ChunkedReader
	Close         bool   // close the connection after this request
	KeepAliveHdr  bool   // HTTP/1.0 keep-alive accepted: the response must carry "Connection: keep-alive"
	Expect100     bool   // HTTP/1.1 "Expect: 100-continue": send 100 before reading the body
	Host          []byte // authority of an absolute-form or CONNECT target, else the Host field; nil when neither
	ContentType   []byte // nil when absent
}

// Reset clears every field and keeps the Headers capacity. The old header
// entries are zeroed so a pooled Request does not pin the previous buffer.
func (r *Request) Reset() {
	h := r.Headers
	clear(h)
	*r = Request{Headers: h[:0], ContentLength: -1}
}

// Get returns the value of the first field named name, matched ASCII
// case-insensitively, or nil when there is none (an empty value is non-nil).
// It allocates nothing; a linear scan beats a map for the ~10-20 fields of a
// real request.
func (r *Request) Get(name string) []byte {
	for i := range r.Headers {
		h := &r.Headers[i]
		if len(h.Name) == len(name) && foldEq(h.Name, name) {
			return h.Value
		}
	}
	return nil
}

// foldEq is equalFold for a name of any case.
func foldEq(b []byte, s string) bool {
	for i := 0; i < len(s); i++ {
		if lower[b[i]] != lower[s[i]] {
			return false
		}
	}
	return true
}
