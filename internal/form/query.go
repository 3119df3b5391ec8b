package form

// ParseQuery decodes application/x-www-form-urlencoded data — a query string
// or a form body — and appends its pairs to dst in input order, duplicates
// included.
//
// The syntax is the one net/url accepts since Go 1.17: pairs are separated by
// '&' only (a ';' is an ordinary character), '+' is a space, %XX escapes are
// decoded, a pair without '=' has an empty value, and empty segments ("a&&b")
// are skipped. Unlike net/url, a malformed escape is kept literally (see
// [Unescape]). Names and values are converted to UTF-8 as [Decoder.Text] does.
//
// Limits are checked before anything is allocated; on error dst is returned
// unchanged and the error wraps ErrTooManyFields, ErrNameTooLong or
// ErrValueTooLong. A call allocates once for all of its strings, plus any
// growth of dst; see the package documentation for what that costs.
func (d *Decoder) ParseQuery(dst []Pair, raw []byte) ([]Pair, error) {
	return d.decode(dst, raw, querySyntax)
}

// CheckQuery reports whether ParseQuery would fail on raw, without
// decoding or allocating: a server checks a query when the request arrives
// and decodes it only if the application asks for it.
func (d *Decoder) CheckQuery(raw []byte) error {
	_, _, err := d.measure(raw, querySyntax)
	return err
}

// queryPair splits seg at eq, the index of its first '=' or -1.
func queryPair(seg []byte, eq int) (name, value []byte, ok bool) {
	switch {
	case len(seg) == 0:
		return nil, nil, false
	case eq < 0:
		return seg, nil, true
	}
	return seg[:eq], seg[eq+1:], true
}
