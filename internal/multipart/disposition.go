package multipart

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// disposition is what the parser needs from a Content-Disposition value.
type disposition struct {
	formData bool
	name     string
	filename string
	isFile   bool // a filename, filename* or filename*N parameter was present
}

// dispParam collects the forms one parameter may take (RFC 2231): plain
// name=, extended name*=charset'lang'%xx, and continued name*0=, name*1*=...
type dispParam struct {
	plain, ext string
	hasPlain   bool
	hasExt     bool
	pieces     []piece
}

type piece struct {
	n       int
	encoded bool
	value   string
}

// parseDisposition parses a Content-Disposition value the way
// mime.ParseMediaType does, so both agree on every value it accepts, but
// without building a map, and decoding ISO-8859-1 extended values too.
// ok is false when the value is malformed; mime/multipart then reports no
// name and no filename, and so does the parser.
func parseDisposition(v string) (d disposition, ok bool) {
	base, _, _ := strings.Cut(v, ";")
	typ := strings.TrimSpace(strings.ToLower(base))
	if !validDispositionType(typ) {
		return d, false
	}
	var name, filename dispParam
	v = v[len(base):]
	for {
		v = strings.TrimLeftFunc(v, unicode.IsSpace)
		if v == "" {
			break
		}
		key, value, rest := consumeParam(v)
		if key == "" {
			if strings.TrimSpace(rest) == ";" {
				break // a trailing semicolon is tolerated
			}
			return d, false
		}
		v = rest
		baseName, suffix, starred := strings.Cut(key, "*")
		var p *dispParam
		switch baseName {
		case "name":
			p = &name
		case "filename":
			p = &filename
		default:
			continue
		}
		if !p.add(suffix, starred, value) {
			return d, false // conflicting duplicate
		}
	}
	if !name.sortPieces() || !filename.sortPieces() {
		return d, false // conflicting continuation pieces
	}
	d.formData = typ == "form-data"
	d.name, _ = name.value()
	d.filename, d.isFile = filename.value()
	return d, true
}

func validDispositionType(typ string) bool {
	major, minor, slash := strings.Cut(typ, "/")
	return isToken(major, isTokenChar) && (!slash || isToken(minor, isTokenChar))
}

// add records one parameter form. Like mime.ParseMediaType it rejects the
// same key given twice with different values (pieces: see sortPieces).
func (p *dispParam) add(suffix string, starred bool, value string) bool {
	switch {
	case !starred:
		if p.hasPlain && p.plain != value {
			return false
		}
		p.plain, p.hasPlain = value, true
	case suffix == "":
		if p.hasExt && p.ext != value {
			return false
		}
		p.ext, p.hasExt = value, true
	default:
		digits, encoded := strings.CutSuffix(suffix, "*")
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 || strconv.Itoa(n) != digits {
			return true // name*x is no continuation; mime ignores it too
		}
		p.pieces = append(p.pieces, piece{n, encoded, value})
	}
	return true
}

// sortPieces orders continuation pieces by number, plain before encoded,
// and reports false if one piece was given twice with different values.
// Sorting keeps a header full of pieces at O(n log n).
func (p *dispParam) sortPieces() bool {
	if len(p.pieces) < 2 {
		return true
	}
	slices.SortFunc(p.pieces, comparePieces)
	for i := 1; i < len(p.pieces); i++ {
		a, b := p.pieces[i-1], p.pieces[i]
		if comparePieces(a, b) == 0 && a.value != b.value {
			return false
		}
	}
	return true
}

func comparePieces(a, b piece) int {
	if c := cmp.Compare(a.n, b.n); c != 0 {
		return c
	}
	switch {
	case a.encoded == b.encoded:
		return 0
	case !a.encoded:
		return -1
	}
	return +1
}

// value combines the forms like mime.ParseMediaType: a decodable extended
// value wins, then continuation pieces 0, 1, ... (a plain piece before an
// encoded one of the same number), then the plain value. present reports
// that any form of the parameter was given.
func (p *dispParam) value() (s string, present bool) {
	present = p.hasPlain || p.hasExt || len(p.pieces) > 0
	if p.hasExt {
		if s, ok := decodeExtValue(p.ext); ok {
			return s, true
		}
		return p.plain, present
	}
	ps := p.pieces
	if len(ps) == 0 || ps[0].n != 0 {
		return p.plain, present
	}
	var b strings.Builder
	for i, n := 0, 0; i < len(ps) && ps[i].n == n; n++ {
		switch q := ps[i]; {
		case !q.encoded:
			b.WriteString(q.value)
		case n == 0:
			s, _ := decodeExtValue(q.value) // an undecodable first piece adds nothing
			b.WriteString(s)
		default:
			s, _ := percentUnescape(q.value)
			b.WriteString(s)
		}
		for i < len(ps) && ps[i].n == n {
			i++
		}
	}
	return b.String(), true
}

// decodeExtValue decodes an RFC 2231/5987 extended value,
// charset'language'percent-encoded. Charsets us-ascii and utf-8 are passed
// through as bytes; iso-8859-1 is converted to UTF-8.
func decodeExtValue(v string) (string, bool) {
	charset, v, ok := strings.Cut(v, "'")
	if !ok {
		return "", false
	}
	if _, v, ok = strings.Cut(v, "'"); !ok {
		return "", false
	}
	s, ok := percentUnescape(v)
	if !ok {
		return "", false
	}
	switch strings.ToLower(charset) {
	case "us-ascii", "utf-8":
		return s, true
	case "iso-8859-1", "latin1":
		return latin1ToUTF8(s), true
	}
	return "", false
}

func latin1ToUTF8(s string) string {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}

// percentUnescape decodes %XX escapes; any malformed escape fails it.
func percentUnescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return "", false
		}
		b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
		i += 2
	}
	return string(b), true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// consumeParam reads `; key=value` from the front of v, returning the
// lower-cased key ("" on failure), the decoded value and the rest.
func consumeParam(v string) (key, value, rest string) {
	rest, ok := strings.CutPrefix(strings.TrimLeftFunc(v, unicode.IsSpace), ";")
	if !ok {
		return "", "", v
	}
	key, rest = consumeToken(strings.TrimLeftFunc(rest, unicode.IsSpace))
	if key == "" {
		return "", "", v
	}
	rest, ok = strings.CutPrefix(strings.TrimLeftFunc(rest, unicode.IsSpace), "=")
	if !ok {
		return "", "", v
	}
	rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
	value, rest2, ok := consumeValue(rest)
	if !ok {
		return "", "", v
	}
	return strings.ToLower(key), value, rest2
}

func consumeToken(v string) (token, rest string) {
	for i := 0; i < len(v); i++ {
		if !isTokenChar(v[i]) {
			return v[:i], v[i:]
		}
	}
	return v, ""
}

// consumeValue reads a token or a quoted-string. Inside quotes a backslash
// escapes only a tspecial: MSIE sends paths like "C:\dir\f.txt" unescaped,
// and mime/multipart keeps those backslashes, so the parser does too.
func consumeValue(v string) (value, rest string, ok bool) {
	if v == "" {
		return "", "", false
	}
	if v[0] != '"' {
		value, rest = consumeToken(v)
		return value, rest, value != ""
	}
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			return v[1:i], v[i+1:], true // nothing to unescape: no copy
		case c == '\\' && i+1 < len(v) && isTSpecial(v[i+1]):
			return unquote(v)
		case c == '\r' || c == '\n':
			return "", "", false
		}
	}
	return "", "", false
}

// unquote is the slow path of consumeValue for quoted strings with escapes.
func unquote(v string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			return b.String(), v[i+1:], true
		case c == '\\' && i+1 < len(v) && isTSpecial(v[i+1]):
			i++
			c = v[i]
		case c == '\r' || c == '\n':
			return "", "", false
		}
		b.WriteByte(c)
	}
	return "", "", false
}

// isTSpecial reports an RFC 2045 tspecial.
func isTSpecial(c byte) bool { return byteClass[c]&tspecial != 0 }

// isTokenChar reports an RFC 2045 token byte.
func isTokenChar(c byte) bool { return byteClass[c]&token2045 != 0 }

const (
	tspecial  = 1 << iota // RFC 2045 tspecials
	token2045             // RFC 2045 token: CHAR except SPACE, CTLs, tspecials
	tchar                 // RFC 9110 tchar: header field name bytes
)

var byteClass = func() (t [256]uint8) {
	for _, c := range []byte(`()<>@,;:\"/[]?=`) {
		t[c] |= tspecial
	}
	for c := '!'; c < 0x7f; c++ {
		if t[c]&tspecial == 0 {
			t[c] |= token2045
		}
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", c) {
			t[c] |= tchar
		}
	}
	return t
}()
