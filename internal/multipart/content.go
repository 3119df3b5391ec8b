package multipart

import "bytes"

// content delivers part content up to the next delimiter. It hands the
// Handler everything that cannot be the start of a delimiter in one PartData
// call and leaves the rest (at most MaxTail bytes) unconsumed. On a
// delimiter it consumes "\r\n--boundary" and leaves the bytes that decided
// it to the delimiter line machine.
func (p *Parser) content(data []byte) (int, error) {
	from := 0 // data[:from] is known to be content
	if p.partStart {
		// Right after the header block, "--boundary" without a line break
		// before it also ends the (empty) part, as in mime/multipart.
		switch {
		case bytes.HasPrefix(data, p.dash):
			switch afterPrefix(data, len(p.dash)) {
			case isDelimiter:
				p.state = stAfterBoundary
				return len(p.dash), nil
			case undecided:
				return 0, nil
			}
			from = len(p.dash)
		case bytes.HasPrefix(p.dash, data):
			return 0, nil
		}
		p.partStart = false
	}

	for {
		i := p.indexDelimiter(data[from:])
		if i < 0 {
			break
		}
		i += from
		switch afterPrefix(data[i:], len(p.nlDash)) {
		case isDelimiter:
			if err := p.emit(data[:i]); err != nil {
				return i, err
			}
			p.state = stAfterBoundary
			return i + len(p.nlDash), nil
		case undecided:
			return i, p.emit(data[:i])
		}
		from = i + len(p.nlDash) // "\r\n--boundaryX" is content
	}

	// Hold back a suffix that may be the start of a delimiter. The delimiter
	// holds its first byte nowhere else, so only the last such byte counts.
	end := len(data)
	tail := max(from, len(data)-len(p.nlDash)+1)
	if j := bytes.LastIndexByte(data[tail:], p.nlDash[0]); j >= 0 {
		if j += tail; bytes.HasPrefix(p.nlDash, data[j:]) {
			end = j
		}
	}
	return end, p.emit(data[:end])
}

func (p *Parser) emit(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return p.h.PartData(p.part, data)
}

const (
	notDelimiter = iota
	isDelimiter
	undecided
)

// afterPrefix decides whether buf, which starts with a delimiter prefix of
// length n, is a delimiter: the prefix must be followed by "--", a blank or a
// line break. This is mime/multipart's matchAfterPrefix; the end of the body
// never needs deciding here, because any delimiter at it is unexpected EOF.
func afterPrefix(buf []byte, n int) int {
	if len(buf) == n {
		return undecided
	}
	switch buf[n] {
	case ' ', '\t', '\r', '\n':
		return isDelimiter
	case '-':
		if len(buf) == n+1 {
			return undecided
		}
		if buf[n+1] == '-' {
			return isDelimiter
		}
	}
	return notDelimiter
}
