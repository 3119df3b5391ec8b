package form

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// syntax selects the pair syntax decode parses. Both decode '+' as a space.
type syntax uint8

const (
	querySyntax  syntax = iota // '&'-separated, see ParseQuery
	cookieSyntax               // ';'-separated, see ParseCookies
)

func (sx syntax) sep() byte {
	if sx == cookieSyntax {
		return ';'
	}
	return '&'
}

// split picks the raw name and value out of a segment; ok is false for
// segments the syntax skips. A switch rather than a function value keeps raw
// from escaping to the heap.
func (sx syntax) split(seg segment) (name, value []byte, ok bool) {
	if sx == cookieSyntax {
		return cookiePair(seg.b, seg.eq)
	}
	return queryPair(seg.b, seg.eq)
}

// segment is one separator-delimited piece of the input, with what one scan
// over it learned, so that names and values needing no decoding are copied
// without being looked at again.
type segment struct {
	b       []byte
	eq      int  // index of the first '=' in b, or -1
	pct     bool // b holds a '%': decoding may shorten it
	special bool // b holds a '%' or a '+': it needs decoding
}

// nextSegment cuts the segment ending at the first sep off s. Vectorised
// scans keep a 10 MB value cheap to look at; for short fields a byte loop
// doing all four searches at once measured no faster.
func nextSegment(s []byte, sep byte) (seg segment, rest []byte) {
	seg.b = s
	if i := bytes.IndexByte(s, sep); i >= 0 {
		seg.b, rest = s[:i], s[i+1:]
	}
	seg.eq = bytes.IndexByte(seg.b, '=')
	seg.pct = bytes.IndexByte(seg.b, '%') >= 0
	seg.special = seg.pct || bytes.IndexByte(seg.b, '+') >= 0
	return seg, rest
}

// decode is the engine under ParseQuery and ParseCookies. The first pass only
// measures, so every limit is checked before anything is allocated and the
// second pass can size a single strings.Builder exactly; each pair's strings
// are then slices of that one builder's contents. On error dst is returned
// unchanged.
func (d *Decoder) decode(dst []Pair, raw []byte, sx syntax) ([]Pair, error) {
	n, total, err := d.measure(raw, sx)
	if err != nil || n == 0 {
		return dst, err
	}
	sep := sx.sep()

	// Separators, escapes, quotes and trimmed blanks are all ASCII, so they
	// never split a UTF-8 sequence: when raw is valid UTF-8, a decoded
	// string can only be invalid if an escape produced a byte >= 0x80.
	rawValid := utf8.Valid(raw)
	dst = slices.Grow(dst, n)
	var b strings.Builder
	b.Grow(total)
	for s := raw; len(s) > 0; {
		var seg segment
		seg, s = nextSegment(s, sep)
		name, value, ok := sx.split(seg)
		if !ok {
			continue
		}
		var nameHigh, valueHigh bool
		start := b.Len()
		if seg.special {
			nameHigh = writeUnescaped(&b, name)
		} else {
			b.Write(name)
		}
		mid := b.Len()
		if seg.special {
			valueHigh = writeUnescaped(&b, value)
		} else {
			b.Write(value)
		}
		// String does not copy, and bytes already written are never
		// changed, so earlier slices stay valid as the builder fills up.
		all := b.String()
		dst = append(dst, Pair{
			d.valid(all[start:mid], rawValid && !nameHigh),
			d.valid(all[mid:], rawValid && !valueHigh),
		})
	}
	return dst, nil
}

// measure checks raw against the limits without decoding it, before
// anything is allocated: the number of pairs and their decoded length.
func (d *Decoder) measure(raw []byte, sx syntax) (n, total int, err error) {
	lim, sep := d.limits(), sx.sep()
	for s := raw; len(s) > 0; {
		var seg segment
		seg, s = nextSegment(s, sep)
		name, value, ok := sx.split(seg)
		if !ok {
			continue
		}
		if n++; n > lim.fields {
			return n, total, fmt.Errorf("%w: more than %d", ErrTooManyFields, lim.fields)
		}
		nl, vl := len(name), len(value)
		if seg.pct {
			nl, vl = decodedLen(name, lim.name), decodedLen(value, lim.value)
		}
		if nl > lim.name {
			return n, total, fmt.Errorf("%w: more than %d bytes", ErrNameTooLong, lim.name)
		}
		if vl > lim.value {
			return n, total, fmt.Errorf("%w: more than %d bytes", ErrValueTooLong, lim.value)
		}
		total += nl + vl
	}
	return n, total, nil
}
