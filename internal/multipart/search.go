package multipart

import "bytes"

// indexDelimiter is bytes.Index(data, p.nlDash), tuned for part content.
//
// bytes.Index looks for the pattern's first byte, '\r' here, and checks each
// hit; text has one at every line end, so a CSV or log upload costs a call
// and a compare per line. Instead the scan looks for the pattern byte least
// likely to show up in content (p.anchor, picked from the boundary's own
// random-looking characters), which makes candidates about as rare in text
// as in binary data. If the anchor byte turns out to be common in this data
// anyway, it hands over to bytes.Index, whose own fallbacks bound the
// worst case.
func (p *Parser) indexDelimiter(data []byte) int {
	pat := p.nlDash
	k := p.anchor - (len(p.pat) - len(pat)) // the anchor's index in pat
	c := pat[k]
	n := len(pat)
	last := len(data) - n // last possible start
	for i, fails := 0, 0; i <= last; {
		j := bytes.IndexByte(data[i+k:last+k+1], c)
		if j < 0 {
			return -1
		}
		i += j
		if data[i] == pat[0] && bytes.Equal(data[i:i+n], pat) {
			return i
		}
		i++
		if fails++; fails > 4+i>>5 { // more than one false hit per 32 bytes
			if r := bytes.Index(data[i:], pat); r >= 0 {
				return i + r
			}
			return -1
		}
	}
	return -1
}

// pickAnchor returns the index in pat ("\r\n--" + boundary) of the byte to
// scan content for: the boundary byte that is rarest in typical uploads.
// In binary data every byte is about as likely; text is what needs care.
func pickAnchor(pat []byte) int {
	best, bestRank := len(pat)-1, 256
	for i := len(pat) - 1; i >= 4; i-- { // later bytes of a boundary are the random ones
		if r := byteRank(pat[i]); r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

// byteRank estimates how common an RFC 2046 boundary byte is in text
// uploads (prose, CSV, logs, source code); lower is rarer.
func byteRank(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		if bytes.IndexByte([]byte("TAISECO"), c) >= 0 {
			return 2
		}
		return 1
	case 'a' <= c && c <= 'z':
		switch {
		case bytes.IndexByte([]byte("qzxjkv"), c) >= 0:
			return 4
		case bytes.IndexByte([]byte("etaoinsrh"), c) >= 0:
			return 9
		}
		return 8
	case '2' <= c && c <= '9':
		return 4
	case c == '0' || c == '1':
		return 5
	}
	switch c {
	case '+', '?', '_', '(', ')', '\'':
		return 3
	case '=', ':', '/':
		return 5
	case '.', ',', '-':
		return 7
	}
	return 10 // space, and anything else
}
