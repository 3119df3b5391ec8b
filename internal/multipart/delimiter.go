package multipart

import (
	"bytes"
	"fmt"
)

// delimiter runs the byte-level machine for the preamble and for the rest of
// a delimiter line after "--boundary". Nothing here is handed to the Handler,
// so every byte is consumed as soon as it is read; only the state is kept.
//
// The grammar is mime/multipart's (RFC 2046 plus its leniencies):
//
//	delimiter line:  "--" boundary *LWSP nl          -> next part
//	close line:      "--" boundary "--" *LWSP (nl / end of body)
//
// nl is CRLF, or LF if the first delimiter line ended in a bare LF. In the
// preamble a line that is neither is skipped; after content it is an error.
func (p *Parser) delimiter(data []byte) (int, error) {
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch p.state {
		case stLineStart:
			if c == p.dash[p.matched] {
				p.matched++
				if p.matched == len(p.dash) {
					p.state = stAfterBoundary
				}
				continue
			}
			p.skipLine(c)
		case stSkipLine:
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				return len(data), nil
			}
			i += j
			p.state, p.matched = stLineStart, 0
		case stAfterBoundary, stPadding:
			switch {
			case c == ' ' || c == '\t':
				p.state = stPadding
			case c == '\r' && (p.preamble || !p.lf):
				p.state = stCR
			case c == '\n' && (p.preamble || p.lf):
				if p.preamble {
					p.lf = true
					p.nlDash = p.pat[1:]
				}
				return i + 1, p.beginPart()
			case c == '-' && p.state == stAfterBoundary:
				p.state = stCloseDash
			default:
				if err := p.mismatch(c); err != nil {
					return i, err
				}
			}
		case stCR:
			if c == '\n' {
				return i + 1, p.beginPart()
			}
			if err := p.mismatch(c); err != nil {
				return i, err
			}
		case stCloseDash:
			if c == '-' {
				p.state = stClosePadding
				continue
			}
			if err := p.mismatch(c); err != nil {
				return i, err
			}
		case stClosePadding:
			switch {
			case c == ' ' || c == '\t':
			case c == '\r' && !p.lf:
				p.state = stCloseCR
			case c == '\n' && p.lf:
				return i + 1, p.finish()
			default:
				if err := p.mismatch(c); err != nil {
					return i, err
				}
			}
		case stCloseCR:
			if c == '\n' {
				return i + 1, p.finish()
			}
			if err := p.mismatch(c); err != nil {
				return i, err
			}
		}
	}
	return len(data), nil
}

// mismatch handles a byte that ends a would-be delimiter line: in the
// preamble the line is just skipped, after content it is an error.
func (p *Parser) mismatch(c byte) error {
	if !p.preamble {
		return fmt.Errorf("%w: unexpected byte %q in delimiter line", ErrMalformed, c)
	}
	p.skipLine(c)
	return nil
}

// skipLine continues the preamble after byte c turned out not to belong to a
// delimiter line.
func (p *Parser) skipLine(c byte) {
	p.matched = 0
	if c == '\n' {
		p.state = stLineStart
	} else {
		p.state = stSkipLine
	}
}
