package form

// ParseCookies decodes the value of a Cookie request header ("a=1; b=2", the
// RFC 6265 cookie-string) and appends its pairs to dst in header order.
//
// Parsing is lenient, as CGI.pm's is, because browsers send whatever earlier
// responses and scripts set:
//   - pairs are separated by ';' (not ','), and spaces and tabs around names
//     and values are trimmed;
//   - a pair without '=' or with an empty name is skipped;
//   - a value wrapped in double quotes is unquoted;
//   - names and values are then decoded as CGI.pm's unescape does: %XX
//     escapes are decoded and '+' becomes a space (a malformed escape is kept
//     literally), so values written by [FormatSetCookie] or CGI.pm come back
//     unchanged, while a raw '+' set by other software reads as a space;
//   - duplicates are kept in order. Browsers send the cookie with the most
//     specific path first, so a caller wanting one value takes the first,
//     as CGI.pm does.
//
// CGI.pm's multi-valued cookies ("a=1&2") are not split: the value is "1&2".
// Conversion to UTF-8, limits, errors and allocation are as for
// [Decoder.ParseQuery].
func (d *Decoder) ParseCookies(dst []Pair, raw []byte) ([]Pair, error) {
	return d.decode(dst, raw, cookieSyntax)
}

// cookiePair splits seg at eq, the index of its first '=' or -1, trimming
// and unquoting.
func cookiePair(seg []byte, eq int) (name, value []byte, ok bool) {
	if eq < 0 {
		return nil, nil, false
	}
	name, value = trimOWS(seg[:eq]), trimOWS(seg[eq+1:])
	if len(name) == 0 {
		return nil, nil, false
	}
	if n := len(value); n >= 2 && value[0] == '"' && value[n-1] == '"' {
		value = value[1 : n-1]
	}
	return name, value, true
}

// trimOWS trims the optional whitespace (SP, HTAB) of RFC 7230.
func trimOWS(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
