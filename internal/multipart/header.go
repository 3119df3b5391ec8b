package multipart

import (
	"bytes"
	"fmt"
	"strings"
)

// header collects a part's header block into p.hdr, line by line, and
// starts the part at the blank line that ends it. Header bytes are copied
// rather than held in the caller's buffer: they are few, they become strings
// anyway, and it keeps the caller's tail within MaxTail.
func (p *Parser) header(data []byte) (int, error) {
	pos := 0
	for pos < len(data) {
		j := bytes.IndexByte(data[pos:], '\n')
		end := pos + j + 1
		if j < 0 {
			end = len(data)
		}
		if len(p.hdr)+end-pos > p.lim.MaxHeaderBytes {
			return pos, ErrHeaderTooLarge
		}
		p.hdr = append(p.hdr, data[pos:end]...)
		pos = end
		if j < 0 {
			break
		}
		line := p.hdr[p.hdrLine:]
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			part, err := parseHeader(p.hdr[:p.hdrLine], p.fields)
			if err != nil {
				return pos, err
			}
			p.part, p.state, p.partStart = part, stContent, true
			return pos, p.h.PartBegin(part)
		}
		if line[0] != ' ' && line[0] != '\t' {
			if p.fields++; p.fields > p.lim.MaxHeaders {
				return pos, ErrHeaderTooLarge
			}
		}
		p.hdrLine = len(p.hdr)
	}
	return pos, nil
}

// partAlloc lets a part with few header fields cost one allocation.
type partAlloc struct {
	part   Part
	fields [3][2]string
}

// parseHeader turns a header block (without its blank line) of n fields
// into a Part. Lines end in LF or CRLF; a line starting with a blank
// continues the previous field (obsolete folding, joined with one space, as
// net/textproto does). Field names must be tokens, though like net/textproto
// the parser tolerates spaces in them ("Name : value" keeps the name
// "Name ", so it is not Content-Disposition); values may not hold control
// bytes other than tab, except the quoted filename parameter of
// Content-Disposition: part headers do not frame the HTTP message, and
// clients send names with control bytes, NUL included, which HTTP::Server::EV
// accepted (SafeFileName removes them; Part.FileName keeps them).
func parseHeader(block []byte, n int) (*Part, error) {
	pa := new(partAlloc)
	part := &pa.part
	if n <= len(pa.fields) {
		part.Header = pa.fields[:0:n]
	} else {
		part.Header = make([][2]string, 0, n)
	}
	s := string(block) // names and values are substrings of this one copy
	var ctlErr error   // a control byte in the first Content-Disposition line, pending
	haveDispLine := false
	for s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		line = strings.TrimSuffix(line, "\r")
		if err := checkValue(line); err != nil {
			// Allowed in a filename only, checked once the field is parsed.
			name, _, _ := strings.Cut(line, ":")
			if !strings.EqualFold(name, "Content-Disposition") || ctlErr != nil || haveDispLine {
				return nil, err
			}
			ctlErr = err
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(part.Header) == 0 {
				return nil, fmt.Errorf("%w: part header starts with a continuation line", ErrMalformed)
			}
			f := &part.Header[len(part.Header)-1]
			f[1] += " " + trimBlanks(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name, isLaxFieldNameChar) {
			return nil, fmt.Errorf("%w: bad part header line %q", ErrMalformed, line)
		}
		haveDispLine = haveDispLine || strings.EqualFold(name, "Content-Disposition")
		part.Header = append(part.Header, [2]string{name, trimBlanks(value)})
	}

	var disp string
	var haveDisp, haveType bool
	for _, f := range part.Header {
		switch {
		case !haveDisp && strings.EqualFold(f[0], "Content-Disposition"):
			disp, haveDisp = f[1], true
		case !haveType && strings.EqualFold(f[0], "Content-Type"):
			part.ContentType, haveType = f[1], true
		}
	}
	if haveDisp {
		d, ok := parseDisposition(disp)
		if ctlErr != nil && !(ok && countCTL(disp) == countCTL(d.filename)) {
			return nil, ctlErr
		}
		if ok {
			if d.formData {
				part.Name = d.name
			}
			part.FileName, part.IsFile = d.filename, d.isFile
		}
	} else if ctlErr != nil {
		return nil, ctlErr
	}
	return part, nil
}

// countCTL counts the control bytes other than tab.
func countCTL(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			n++
		}
	}
	return n
}

// checkValue rejects control bytes other than tab, like net/textproto.
func checkValue(line string) error {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("%w: control byte %q in part header", ErrMalformed, c)
		}
	}
	return nil
}

func trimBlanks(s string) string {
	return strings.Trim(s, " \t")
}

func isToken(s string, valid func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !valid(s[i]) {
			return false
		}
	}
	return true
}

// isLaxFieldNameChar reports an RFC 9110 tchar, the bytes of a header
// name, or a space.
func isLaxFieldNameChar(c byte) bool {
	return byteClass[c]&tchar != 0 || c == ' '
}
