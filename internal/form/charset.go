package form

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// ErrUnknownCharset is wrapped by the error LookupCharset returns for a name
// it cannot resolve.
var ErrUnknownCharset = errors.New("form: unknown charset")

// LookupCharset resolves a charset name for [Decoder.Legacy].
//
// Names are looked up case-insensitively as WHATWG labels (htmlindex: the
// names browsers honour in a page's charset, such as "windows-1251",
// "cp1251", "koi8-r"), then as IANA names (ianaindex), then in the spellings
// Perl's Encode accepts and htmlindex does not ("win1251", "cp-1251",
// "koi8r", "latin-1", "iso8859-5", "cp437"). As in browsers, "latin1" and
// "iso-8859-1" mean Windows-1252, a superset of Latin-1 in its printable
// range, since that is what a browser submits for such a page.
//
// Labels WHATWG maps to its "replacement" encoding (e.g. "iso-2022-kr"),
// which would decode any value to a single U+FFFD, are rejected. The error
// names the charset and wraps ErrUnknownCharset.
func LookupCharset(name string) (encoding.Encoding, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if key != "" {
		if e := lookupLabel(key); e != nil {
			return e, nil
		}
		if alias := perlAlias(key); alias != "" {
			if e := lookupLabel(alias); e != nil {
				return e, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownCharset, name)
}

func lookupLabel(label string) encoding.Encoding {
	if e, err := htmlindex.Get(label); err == nil {
		if e == encoding.Replacement {
			return nil
		}
		return e
	}
	// ianaindex answers nil, nil for names it knows but cannot decode.
	if e, err := ianaindex.IANA.Encoding(label); err == nil && e != nil {
		return e
	}
	return nil
}

// perlAlias rewrites a lower-case name in one of Encode's looser spellings to
// a label the indexes know, or returns "".
func perlAlias(key string) string {
	compact := strings.NewReplacer("-", "", "_", "", " ", "").Replace(key)
	i := strings.IndexFunc(compact, func(r rune) bool { return r >= '0' && r <= '9' })
	if i < 0 {
		return ""
	}
	prefix, num := compact[:i], compact[i:]
	switch prefix {
	case "cp", "win", "windows":
		if strings.HasPrefix(num, "125") || num == "874" {
			return "windows-" + num
		}
		return "ibm" + num
	case "ibm":
		return "ibm" + num
	case "koi":
		switch num {
		case "8r":
			return "koi8-r"
		case "8u":
			return "koi8-u"
		}
	case "latin":
		return "latin" + num
	case "iso":
		if rest, ok := strings.CutPrefix(num, "8859"); ok && rest != "" {
			return "iso-8859-" + rest
		}
	}
	return ""
}

// Text converts one decoded value (a multipart field value, a filename) to a
// UTF-8 string: valid UTF-8 is copied as is with a single allocation; other
// bytes are decoded as d.Legacy, or, with no Legacy, kept with each invalid
// run replaced by U+FFFD. The whole value is decoded as Legacy, not just its
// invalid parts, because a value that is not UTF-8 was submitted in the
// page's legacy charset as a whole. With no Legacy or a single-byte one, the
// result never has more runes than b has bytes.
func (d *Decoder) Text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return decodeLegacy(d.legacy(), b)
}

func decodeLegacy[T string | []byte](enc encoding.Encoding, s T) string {
	switch e := enc.(type) {
	case nil:
		return strings.ToValidUTF8(string(s), string(utf8.RuneError))
	case *charmap.Charmap:
		// The single-byte charsets legacy forms use (cp1251, koi8-r, ...)
		// are decoded byte by byte into an exactly sized builder: one
		// allocation instead of a transformer and two buffers.
		n := 0
		for i := 0; i < len(s); i++ {
			n += runeLen(e.DecodeByte(s[i]))
		}
		var b strings.Builder
		b.Grow(n)
		for i := 0; i < len(s); i++ {
			b.WriteRune(e.DecodeByte(s[i]))
		}
		return b.String()
	}
	out, err := enc.NewDecoder().Bytes([]byte(s))
	if err != nil || !utf8.Valid(out) {
		return strings.ToValidUTF8(string(s), string(utf8.RuneError))
	}
	return string(out)
}

// runeLen is utf8.RuneLen counting an invalid rune as the U+FFFD that
// WriteRune writes for it.
func runeLen(r rune) int {
	if n := utf8.RuneLen(r); n > 0 {
		return n
	}
	return utf8.RuneLen(utf8.RuneError)
}
