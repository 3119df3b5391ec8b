package http1

// proto11 is the Proto of a request sent as HTTP/1.2 or later (read only).
var proto11 = []byte("HTTP/1.1")

// maxLeadingEmpty is how many empty lines may precede a request line. RFC
// 9112 §2.2 asks servers to ignore "at least one"; clients that send extra
// CRLFs after a body send one or two.
const maxLeadingEmpty = 4

// Parse parses the request head at the start of buf and returns its length
// through the terminating empty line. The head is parsed from scratch on
// every call (picohttpparser style), so the caller simply appends what it
// reads and calls again:
//
//   - complete, valid head: (length, nil); the body, if any, starts at
//     buf[length:];
//   - valid so far but incomplete, within every limit: (0, ErrIncomplete);
//   - otherwise (0, err) where StatusOf(err) is the status to answer with.
//     A limit overflow is reported as soon as the bytes present prove it.
//
// lim may be nil for the defaults. Cost: linear in the head, about half a
// nanosecond per byte (a 475-byte browser GET: ~250 ns, no allocation, once
// Headers has grown). Since every call starts over, a client trickling one
// byte per packet makes the total quadratic, bounded by MaxHeaderBytes; the
// caller's read timeout is what ends that.
func (r *Request) Parse(buf []byte, lim *Limits) (int, error) {
	r.Reset()
	l := lim
	if !lim.complete() {
		d := lim.orDefaults()
		l = &d
	}
	b := buf
	if len(b) > l.MaxHeaderBytes {
		b = b[:l.MaxHeaderBytes]
	}
	n, err := r.parse(b, l)
	if err == ErrIncomplete && len(buf) > len(b) {
		return 0, errHeadTooLarge
	}
	return n, err
}

func (r *Request) parse(b []byte, l *Limits) (int, error) {
	i, err := skipEmptyLines(b)
	if err != nil {
		return 0, err
	}
	if i, err = r.parseRequestLine(b, i, l); err != nil {
		return 0, err
	}
	var st fieldState
	for {
		if i >= len(b) {
			return 0, ErrIncomplete
		}
		if c := b[i]; c == '\r' || c == '\n' {
			if i, err = lineEnd(b, i); err != nil {
				return 0, err
			}
			if err = r.finish(&st); err != nil {
				return 0, err
			}
			return i, nil
		}
		if len(r.Headers) >= l.MaxHeaders {
			return 0, errTooManyHeaders
		}
		var name, value []byte
		if name, value, i, err = parseField(b, i, l.MaxHeaderName, l.MaxHeaderValue); err != nil {
			return 0, err
		}
		r.Headers = append(r.Headers, Header{name, value})
		if err = r.noteField(&st, name, value); err != nil {
			return 0, err
		}
	}
}

// skipEmptyLines returns the index of the request line's first byte.
func skipEmptyLines(b []byte) (int, error) {
	i := 0
	for range maxLeadingEmpty + 1 {
		if i >= len(b) {
			return 0, ErrIncomplete
		}
		if c := b[i]; c != '\r' && c != '\n' {
			return i, nil
		}
		var err error
		if i, err = lineEnd(b, i); err != nil {
			return 0, err
		}
	}
	return 0, errLeadingLines
}

// lineEnd consumes the CRLF at b[i] and returns the next index. A bare LF
// is refused although RFC 9112 §2.2 lets a recipient accept one: a front end
// that does not split there reads "Dummy: x\nContent-Length: 5" as one
// field, so honouring the hidden one is a desync. A CR not followed by LF is
// refused too, since other parsers may treat it as a line end.
func lineEnd(b []byte, i int) (int, error) {
	switch {
	case b[i] == '\n':
		return 0, errBareLF
	case b[i] != '\r':
		return 0, errRequestLine
	case i+1 >= len(b):
		return 0, ErrIncomplete
	case b[i+1] != '\n':
		return 0, errBareCR
	}
	return i + 2, nil
}

// parseRequestLine parses method SP request-target SP HTTP-version line-end
// (RFC 9112 §3) starting at b[i] and returns the index after it.
func (r *Request) parseRequestLine(b []byte, i int, l *Limits) (int, error) {
	start := i
	end := min(len(b), start+maxMethod+1)
	for i < end && class[b[i]]&cToken != 0 {
		i++
	}
	switch {
	case i-start > maxMethod:
		return 0, errMethodTooLong
	case i >= len(b):
		return 0, ErrIncomplete
	case i == start || b[i] != ' ':
		return 0, errMethod
	}
	r.Method = b[start:i]
	i++

	start = i
	i = scanTarget(b, i, min(len(b), start+l.MaxURL+1))
	switch {
	case i-start > l.MaxURL:
		return 0, errURITooLong
	case i >= len(b):
		return 0, ErrIncomplete
	case i == start || b[i] != ' ':
		return 0, errTarget
	}
	r.Target = b[start:i]
	if err := r.splitTarget(); err != nil {
		return 0, err
	}
	i++

	// "HTTP/" DIGIT "." DIGIT, checked against as much as has arrived so
	// garbage, or a major version other than 1, is refused before its line
	// ends rather than after the timeout.
	const proto = "HTTP/1.0"
	start = i
	for k := 0; k < len(proto); k++ {
		if i+k >= len(b) {
			return 0, ErrIncomplete
		}
		c := b[i+k]
		switch {
		case k == 5 && c >= '0' && c <= '9' && c != '1':
			return 0, ErrVersion
		case proto[k] == '0':
			if c < '0' || c > '9' {
				return 0, errProto
			}
		case c != proto[k]:
			return 0, errProto
		}
	}
	i += len(proto)
	if i >= len(b) {
		return 0, ErrIncomplete
	}
	if c := b[i]; c != '\r' && c != '\n' {
		return 0, errProto
	}
	end, err := lineEnd(b, i)
	if err != nil {
		return 0, err
	}
	r.Proto = b[start:i]
	r.Major, r.Minor = 1, int(b[start+7]-'0')
	if r.Minor > 1 {
		// RFC 9110 §2.5: a later minor version is processed as the highest
		// one we implement, and the rest of the server sees that one.
		r.Minor, r.Proto = 1, proto11
	}
	return end, nil
}

// parseField parses one field line, name ":" OWS value OWS line-end (RFC
// 9112 §5), starting at b[i], and returns it with the index after it. It is
// shared by heads and trailer sections so both follow the same rules.
func parseField(b []byte, i, maxName, maxValue int) (name, value []byte, next int, err error) {
	start := i
	end := min(len(b), i+maxName+1)
	for i < end && class[b[i]]&cToken != 0 {
		i++
	}
	switch {
	case i-start > maxName:
		return nil, nil, 0, errNameTooLong
	case i >= len(b):
		return nil, nil, 0, ErrIncomplete
	case i == start && isOWS(b[i]):
		// A field line starting with whitespace continues the previous
		// one (obs-fold) or, after the request line, hides a field from
		// parsers that ignore it; RFC 9112 §5.2 and §2.2 allow rejecting.
		return nil, nil, 0, errObsFold
	case i == start || b[i] != ':':
		return nil, nil, 0, errFieldName
	}
	name = b[start:i]
	i++
	for i < len(b) && isOWS(b[i]) {
		i++
	}
	start = i
	i = scanValue(b, i)
	value = b[start:i]
	for len(value) > 0 && isOWS(value[len(value)-1]) {
		value = value[:len(value)-1]
	}
	switch {
	case len(value) > maxValue:
		return nil, nil, 0, errValueTooLong
	case i >= len(b):
		return nil, nil, 0, ErrIncomplete
	case b[i] != '\r' && b[i] != '\n':
		return nil, nil, 0, errFieldValue
	}
	if next, err = lineEnd(b, i); err != nil {
		return nil, nil, 0, err
	}
	return name, value, next, nil
}
