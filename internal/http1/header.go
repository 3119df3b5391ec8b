package http1

import "bytes"

// fieldState collects what the framing fields said while a head is parsed;
// finish turns it into Request fields once every field is known, because
// RFC 9112 §6 decides framing from the combination, not field by field.
type fieldState struct {
	hosts       int
	hostEmpty   bool
	contentType bool
	clSeen      bool
	teSeen      bool
	teChunked   int  // how many times chunked appeared
	teLast      bool // the last coding seen is chunked
	teOther     bool // some coding other than chunked appeared
	connClose   bool
	connKeep    bool
	expect100   bool
}

// noteField records the framing and routing fields. Lengths are compared
// first so the common fields (Accept, Cookie, User-Agent...) cost one switch.
func (r *Request) noteField(st *fieldState, name, value []byte) error {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			if st.hosts++; st.hosts > 1 {
				return errHostDup
			}
			if !validHost(value, false) {
				return errHost
			}
			st.hostEmpty = len(value) == 0
			if r.Host == nil { // an absolute-form or CONNECT target wins
				r.Host = value
			}
		}
	case 6:
		if equalFold(name, "expect") && equalFold(value, "100-continue") {
			st.expect100 = true
		}
	case 10:
		if equalFold(name, "connection") {
			return st.connection(value)
		}
	case 12:
		if equalFold(name, "content-type") {
			// One Content-Type only: a multipart boundary must not depend
			// on which duplicate a parser (or a proxy in front) picked.
			if st.contentType {
				return errContentType
			}
			st.contentType = true
			r.ContentType = value
		}
	case 14:
		if equalFold(name, "content-length") {
			// One Content-Length field with one value: RFC 9112 §6.3 lets a
			// recipient reject a repeated field or a list even of equal
			// values, and a front end may have picked another one.
			if st.clSeen {
				return errCLDup
			}
			n, err := parseContentLength(value)
			if err != nil {
				return err
			}
			st.clSeen = true
			r.ContentLength = n
		} else if aliasFold(name, "content-length") {
			return errFramingAlias
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			st.teSeen = true
			return st.transferEncoding(value)
		} else if aliasFold(name, "transfer-encoding") {
			return errFramingAlias
		}
	}
	return nil
}

// aliasFold reports whether name is lower (a field name with '-') spelt
// with '_' for some '-', in any case: Content_Length. A proxy or CGI gateway
// that maps '_' to '-' reads such a field as framing; we never do, so the
// request means two things and is refused.
func aliasFold(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i, c := range name {
		l := lower[i]
		switch {
		case c == '_' && l == '-':
		case c|0x20 != l: // '-' and digits are unchanged by |0x20
			return false
		}
	}
	return true
}

// finish applies the rules that need the whole head.
func (r *Request) finish(st *fieldState) error {
	http11 := r.Minor == 1
	if http11 && st.hosts == 0 {
		return errHostMissing // RFC 9112 §3.2
	}
	if http11 && st.hostEmpty {
		// RFC 9112 §3.2 allows an empty Host only for a target URI without
		// an authority, which no request to an origin server has; proxies
		// disagree on what an empty one routes to.
		return errHostEmpty
	}
	if st.teSeen {
		// RFC 9112 §6.1 and §6.3: Transfer-Encoding in HTTP/1.0 or next to
		// Content-Length means faulty framing; chunked must be final and
		// only once; a coding we cannot decode is 501.
		switch {
		case !http11:
			return errTE10
		case st.clSeen:
			return errTEWithCL
		case !st.teLast || st.teChunked != 1:
			return errTENotChunked
		case st.teOther:
			return errTEUnsupported
		}
		r.Chunked = true
	}
	if http11 {
		r.Close = st.connClose
		r.Expect100 = st.expect100 // RFC 9110 §10.1.1: ignored in HTTP/1.0
	} else {
		r.Close = st.connClose || !st.connKeep
		r.KeepAliveHdr = !r.Close
	}
	return nil
}

// nextElement splits the next element off a comma-separated list (RFC 9110
// §5.6.1), trimming OWS. Empty elements come back empty; callers decide
// whether the field's grammar tolerates them.
func nextElement(list []byte) (elem, rest []byte) {
	if i := bytes.IndexByte(list, ','); i >= 0 {
		return trimOWS(list[:i]), list[i+1:]
	}
	return trimOWS(list), nil
}

func isToken(b []byte) bool {
	for _, c := range b {
		if class[c]&cToken == 0 {
			return false
		}
	}
	return len(b) > 0
}

// connection reads the Connection options; only close and keep-alive
// matter to HTTP/1.x framing.
func (st *fieldState) connection(v []byte) error {
	switch { // the values browsers send, without list splitting
	case equalFold(v, "keep-alive"):
		st.connKeep = true
		return nil
	case equalFold(v, "close"):
		st.connClose = true
		return nil
	}
	for e, rest := nextElement(v); ; e, rest = nextElement(rest) {
		switch {
		case len(e) == 0:
		case !isToken(e):
			return errConnection
		case equalFold(e, "close"):
			st.connClose = true
		case equalFold(e, "keep-alive"):
			st.connKeep = true
		}
		if rest == nil {
			return nil
		}
	}
}

// transferEncoding accumulates the codings of one Transfer-Encoding field;
// several fields form one list in order.
func (st *fieldState) transferEncoding(v []byte) error {
	seen := false
	for e, rest := nextElement(v); ; e, rest = nextElement(rest) {
		switch {
		case len(e) == 0:
		case !isToken(e):
			// Codings with parameters are syntactically possible but
			// none we could decode takes any; refuse rather than guess.
			return errTE
		case equalFold(e, "chunked"):
			st.teChunked++
			st.teLast = true
			seen = true
		default:
			st.teOther = true
			st.teLast = false
			seen = true
		}
		if rest == nil {
			break
		}
	}
	if !seen {
		return errTE
	}
	return nil
}

// parseContentLength parses 1*DIGIT. A list, even of identical values
// (RFC 9110 §8.6 lets a recipient accept one that an intermediary made), is
// refused: RFC 9112 §6.3 allows that, and peers refuse it too. Values that
// do not fit in an int64 with room to spare are refused.
func parseContentLength(v []byte) (int64, error) {
	if len(v) == 0 {
		return 0, errContentLength
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' || n > (1<<63-1-9)/10 {
			return 0, errContentLength
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
