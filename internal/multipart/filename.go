package multipart

import (
	"strings"
	"unicode/utf8"
)

// SafeFileName makes a client's filename safe to show and to use as the last
// element of a path. It never fails and keeps valid UTF-8 as it is:
//
//   - / : < > * ? " | become '_'; a backslash becomes "__" (see below);
//   - control characters (C0, DEL, C1), NUL included, are dropped, and so are
//     the Unicode line separators and the bidirectional overrides and
//     isolates (which can make a name ending in .exe display as .jpg);
//   - a byte that is not valid UTF-8 becomes '_';
//   - a result of "." or ".." becomes "_" or "__".
//
// The backslash rule keeps names identical to Perl's HTTP::Server::EV, which
// sanitised the filename still escaped as a quoted-string, where clients
// (HTTP::Request::Common, Go's mime/multipart.Writer) send `\` as `\\`. So
// "../.\\..:<>utf8_файл\x00.jpg" becomes ".._.__..___utf8_файл.jpg".
//
// It does not shorten long names nor rename reserved Windows device names.
func SafeFileName(name string) string {
	i := 0
	for i < len(name) {
		if c := name[i]; c < utf8.RuneSelf && !unsafeASCII(c) {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if r >= utf8.RuneSelf && !(r == utf8.RuneError && size == 1) && !droppedRune(r) {
			i += size
			continue
		}
		break
	}
	if i == len(name) && name != "." && name != ".." {
		return name // already safe: no allocation
	}

	var b strings.Builder
	b.Grow(len(name) + 8)
	b.WriteString(name[:i])
	for i < len(name) {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == '\\':
			b.WriteString("__")
		case r < utf8.RuneSelf && replacedASCII(byte(r)):
			b.WriteByte('_')
		case r < ' ' || r == 0x7f || droppedRune(r):
			// dropped
		case r == utf8.RuneError && size == 1:
			b.WriteByte('_')
		default:
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	switch s := b.String(); s {
	case ".":
		return "_"
	case "..":
		return "__"
	default:
		return s
	}
}

func replacedASCII(c byte) bool {
	return strings.IndexByte(`\/:<>*?"|`, c) >= 0
}

func unsafeASCII(c byte) bool {
	return c < ' ' || c == 0x7f || replacedASCII(c)
}

// droppedRune reports the non-ASCII runes SafeFileName removes: C1 controls,
// line and paragraph separators, and bidirectional formatting characters.
func droppedRune(r rune) bool {
	switch {
	case r >= 0x80 && r < 0xa0:
		return true
	case r == 0x2028 || r == 0x2029: // line, paragraph separator
		return true
	case r >= 0x202a && r <= 0x202e: // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c: // LRM, RLM, ALM
		return true
	}
	return false
}
