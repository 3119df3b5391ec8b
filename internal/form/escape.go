package form

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// unhexTab maps ASCII hex digits to their value and every other byte to 0xFF.
var unhexTab = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// escapeAt reports whether src[i:], which starts with '%', is a well-formed
// %XX escape and returns the byte it stands for.
func escapeAt(src []byte, i int) (byte, bool) {
	if i+2 >= len(src) {
		return 0, false
	}
	hi, lo := unhexTab[src[i+1]], unhexTab[src[i+2]]
	if hi > 0xF || lo > 0xF {
		return 0, false
	}
	return hi<<4 | lo, true
}

// Unescape appends src to dst with %XX escapes decoded and, when plusIsSpace
// is set, '+' turned into a space, and returns the extended slice.
//
// A '%' that does not start a well-formed escape ("%zz", a trailing "%4") is
// kept literally, as browsers and CGI.pm do, rather than failing: one stray
// '%' in a value a user typed should not cost the whole request. This differs
// from net/url, which rejects such input.
func Unescape(dst, src []byte, plusIsSpace bool) []byte {
	for i := 0; i < len(src); {
		j := nextSpecial(src, i, plusIsSpace)
		dst = append(dst, src[i:j]...)
		if j == len(src) {
			break
		}
		c, i2 := decodeAt(src, j)
		dst = append(dst, c)
		i = i2
	}
	return dst
}

// writeUnescaped is Unescape with plusIsSpace set, writing into a
// strings.Builder, which lets the decoded bytes become a string without a
// copy. It reports whether an escape produced a byte >= 0x80, that is,
// whether the output may be invalid UTF-8 where src is not.
func writeUnescaped(b *strings.Builder, src []byte) (high bool) {
	for i := 0; i < len(src); {
		j := nextSpecial(src, i, true)
		b.Write(src[i:j])
		if j == len(src) {
			break
		}
		c, i2 := decodeAt(src, j)
		b.WriteByte(c)
		high = high || c >= utf8.RuneSelf
		i = i2
	}
	return high
}

// nextSpecial returns the index of the first '%' (or '+' when plus is set)
// in src at or after i, or len(src).
func nextSpecial(src []byte, i int, plus bool) int {
	for ; i < len(src); i++ {
		if c := src[i]; c == '%' || c == '+' && plus {
			return i
		}
	}
	return i
}

// decodeAt decodes the special byte at src[i] and returns the byte it stands
// for and the index after it.
func decodeAt(src []byte, i int) (byte, int) {
	switch src[i] {
	case '+':
		return ' ', i + 1
	case '%':
		if c, ok := escapeAt(src, i); ok {
			return c, i + 3
		}
	}
	return src[i], i + 1
}

// decodedLen returns the length Unescape would produce for src, or any
// figure above limit once the result is known to exceed it, so an oversized
// value is rejected after reading little more than limit bytes of it.
func decodedLen(src []byte, limit int) int {
	n := 0
	for {
		i := bytes.IndexByte(src, '%')
		if i < 0 {
			return n + len(src)
		}
		if n += i + 1; n > limit {
			return n
		}
		if _, ok := escapeAt(src, i); ok {
			src = src[i+3:]
		} else {
			src = src[i+1:]
		}
	}
}
