package http1

import (
	"encoding/binary"
	"math/bits"
)

// Character classes, one bit each, looked up through a single 256-byte table
// so every byte of a request head costs one load and one AND (picohttpparser
// and fasthttp do the same). The table is filled once at init and never
// written again.
const (
	cToken  = 1 << iota // tchar (RFC 9110 §5.6.2): method, field name, coding
	cValue              // field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5)
	cTarget             // request-target byte: anything but CTL, SP and DEL
	cHex                // HEXDIG
	cHost               // reg-name byte: unreserved / sub-delims / "%"
	cQdtext             // quoted-string body byte (RFC 9110 §5.6.4)
	cScheme             // URI scheme byte after the first (RFC 3986 §3.1)
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alpha := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
		digit := '0' <= b && b <= '9'
		var m uint8
		if alpha || digit || b != 0 && contains("!#$%&'*+-.^_`|~", b) {
			m |= cToken
		}
		if b == '\t' || 0x20 <= b && b != 0x7f {
			m |= cValue
		}
		if 0x20 < b && b != 0x7f {
			m |= cTarget
		}
		if digit || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
			m |= cHex
		}
		if alpha || digit || b != 0 && contains("-._~!$&'()*+,;=%", b) {
			m |= cHost
		}
		if b == '\t' || b == ' ' || b == '!' || 0x23 <= b && b != '\\' && b != 0x7f {
			m |= cQdtext
		}
		if alpha || digit || b == '+' || b == '-' || b == '.' {
			m |= cScheme
		}
		t[c] = m
	}
	return t
}()

// lower maps ASCII upper case to lower case and every other byte to itself.
var lower = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] = byte(c) + 'a' - 'A'
		}
	}
	return t
}()

func contains(set string, b byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == b {
			return true
		}
	}
	return false
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case in b. It recognizes the framing fields and their tokens.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower[b[i]] != s[i] {
			return false
		}
	}
	return true
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS strips leading and trailing SP / HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// SWAR (eight bytes per step) scanning for the two long runs of a head:
// field values and request targets. The masks below flag bytes below n and
// bytes equal to DEL. Higher flags may be false (a borrow carries upward),
// but the lowest flag is always exact, which is all the scanners use.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// ctlMask flags the bytes of x that are below n (n <= 128) or DEL.
func ctlMask(x, n uint64) uint64 {
	y := x ^ lsb*0x7f
	return ((x-lsb*n)&^x | (y-lsb)&^y) & msb
}

// scanValue returns the index of the first byte at or after i that cannot
// appear in a field value (a CR or LF ends a well-formed value), or len(b).
func scanValue(b []byte, i int) int {
	for i+8 <= len(b) {
		m := ctlMask(binary.LittleEndian.Uint64(b[i:]), 0x20)
		if m == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(m) >> 3
		if b[i] != '\t' {
			return i
		}
		i++
	}
	for i < len(b) && class[b[i]]&cValue != 0 {
		i++
	}
	return i
}

// scanTarget returns the index of the first byte in b[i:end] that cannot
// appear in a request-target, or end.
func scanTarget(b []byte, i, end int) int {
	for i+8 <= end {
		m := ctlMask(binary.LittleEndian.Uint64(b[i:]), 0x21)
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < end && class[b[i]]&cTarget != 0 {
		i++
	}
	return i
}
