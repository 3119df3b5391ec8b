package http1

import (
	"bytes"
	"errors"
	"io"
)

// ChunkedReader decodes a chunked request body (RFC 9112 §7.1) from a
// Source. It exists so the server can stream a chunked upload with the same
// strictness and limits as the head: every framing line is validated,
// nothing but the trailer section is buffered, and chunk data is read
// straight into the caller's slice.
//
// Read returns decoded data, io.EOF after the last chunk and its trailer
// section, io.ErrUnexpectedEOF if the Source ends first, and otherwise an
// error for which StatusOf gives the status to answer. Errors are sticky.
// A Read moves data from at most one chunk and never blocks for more once it
// has data, so a streaming handler sees each chunk as it arrives.
//
// Cost: a Read is one Source.Read plus, at a chunk boundary, one ReadLine
// and a two-byte Read, about 35 ns of framing per chunk; it allocates
// nothing. A ChunkedReader is reusable through Reset, which keeps its
// trailer storage.
type ChunkedReader struct {
	src    Source
	lim    ChunkLimits
	state  uint8
	n      int64 // data bytes left in the current chunk
	excess int64 // framing bytes beyond what the data justifies
	err    error
	crlf   [2]byte

	trailers []Header
	tbuf     []byte // trailer names and values, copied out of the Source
}

const (
	stSize = iota // expecting a chunk-size line
	stData        // inside chunk data, n > 0
	stCRLF        // expecting the CRLF after chunk data
	stDone        // last chunk and trailer section consumed
)

// NewChunkedReader returns a decoder for the chunked body that src is
// positioned at, enforcing lim (zero fields: defaults).
func NewChunkedReader(src Source, lim ChunkLimits) *ChunkedReader {
	c := new(ChunkedReader)
	c.Reset(src, lim)
	return c
}

// Reset makes c decode a new body from src, keeping its trailer storage.
func (c *ChunkedReader) Reset(src Source, lim ChunkLimits) {
	clear(c.trailers)
	*c = ChunkedReader{src: src, lim: lim.orDefaults(), trailers: c.trailers[:0], tbuf: c.tbuf[:0]}
}

// Read implements io.Reader over the decoded data.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		switch c.state {
		case stSize:
			c.err = c.readChunkLine()
		case stCRLF:
			c.err = c.readCRLF()
		case stDone:
			c.err = io.EOF
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > c.n {
				p = p[:c.n]
			}
			n, err := c.src.Read(p)
			c.n -= int64(n)
			if c.n == 0 {
				c.state = stCRLF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // a CRLF and the last chunk must follow
			}
			c.err = err
			return n, err
		}
	}
	return 0, c.err
}

// Trailers returns the trailer fields once Read has returned io.EOF, and nil
// before. They are copies, valid until Reset.
func (c *ChunkedReader) Trailers() []Header {
	if c.state != stDone {
		return nil
	}
	return c.trailers
}

// readLine reads one framing line, CRLF included, and checks it ends in
// CRLF with no other CR: a bare LF is refused here as in the head (see
// Source.ReadLine).
func (c *ChunkedReader) readLine(max int) ([]byte, error) {
	line, err := c.src.ReadLine(max)
	switch {
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case len(line) > max:
		return nil, ErrLineTooLong
	case len(line) < 2 || line[len(line)-2] != '\r' || line[len(line)-1] != '\n':
		return nil, errChunkLF
	case bytes.IndexByte(line, '\r') != len(line)-2 || bytes.IndexByte(line, '\n') != len(line)-1:
		return nil, errBareCR
	}
	return line, nil
}

// readChunkLine reads chunk-size [ chunk-ext ] CRLF.
func (c *ChunkedReader) readChunkLine() error {
	line, err := c.readLine(c.lim.MaxLine + 2)
	if errors.Is(err, ErrLineTooLong) {
		return errChunkLine
	}
	if err != nil {
		return err
	}
	line = line[:len(line)-2]
	size, err := parseChunkLine(line)
	if err != nil {
		return err
	}
	// Extensions are discarded, so a client could send megabytes of them
	// around one-byte chunks. Like net/http, allow 16 bytes of framing per
	// chunk plus twice the data, and refuse once 16 KiB more piled up.
	c.excess += int64(len(line)) + 2 - 16 - 2*min(size, 1<<40)
	c.excess = max(c.excess, 0)
	if c.excess > 16<<10 {
		return errChunkOverhead
	}
	if size == 0 {
		return c.readTrailers()
	}
	c.n, c.state = size, stData
	return nil
}

func (c *ChunkedReader) readCRLF() error {
	if _, err := io.ReadFull(c.src, c.crlf[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if c.crlf != [2]byte{'\r', '\n'} {
		return errChunkCRLF
	}
	c.state = stSize
	return nil
}

// readTrailers reads the trailer section after the last chunk, copying each
// field out of the Source's transient line.
func (c *ChunkedReader) readTrailers() error {
	budget := c.lim.MaxTrailerBytes
	for {
		if budget < 2 {
			return errTrailerLarge
		}
		line, err := c.readLine(budget)
		if errors.Is(err, ErrLineTooLong) {
			return errTrailerLarge
		}
		if err != nil {
			return err
		}
		budget -= len(line)
		if len(line) == 2 {
			break
		}
		if len(c.trailers) >= c.lim.MaxTrailers {
			return errTrailerCount
		}
		name, value, _, err := parseField(line, 0, c.lim.MaxHeaderName, c.lim.MaxHeaderValue)
		if err != nil {
			return err
		}
		if forbiddenTrailer(name) {
			return errTrailerField
		}
		c.tbuf = append(append(c.tbuf, name...), value...)
		c.trailers = append(c.trailers, Header{name, value})
	}
	// tbuf may have moved while growing: point the fields into its final
	// array, in the order they were appended.
	off := 0
	for i := range c.trailers {
		h := &c.trailers[i]
		nl, vl := len(h.Name), len(h.Value)
		h.Name = c.tbuf[off : off+nl : off+nl]
		h.Value = c.tbuf[off+nl : off+nl+vl : off+nl+vl]
		off += nl + vl
	}
	c.state = stDone
	return io.EOF
}

// parseChunkLine parses chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS
// ext-val ] ) (RFC 9112 §7.1.1), validating the extensions it ignores.
func parseChunkLine(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line) && class[line[i]]&cHex != 0; i++ {
		if n > (1<<63-1)>>4 {
			return 0, errChunkSize
		}
		n = n<<4 | int64(unhex(line[i]))
	}
	if i == 0 {
		return 0, errChunkSize
	}
	for i < len(line) {
		i = skipOWS(line, i)
		if i >= len(line) || line[i] != ';' {
			return 0, errChunkExt
		}
		i = skipOWS(line, i+1)
		start := i
		for i < len(line) && class[line[i]]&cToken != 0 {
			i++
		}
		if i == start {
			return 0, errChunkExt
		}
		if j := skipOWS(line, i); j < len(line) && line[j] == '=' {
			var ok bool
			if i, ok = extValue(line, skipOWS(line, j+1)); !ok {
				return 0, errChunkExt
			}
		}
	}
	return n, nil
}

// extValue scans token / quoted-string at line[i] and returns the index
// after it.
func extValue(line []byte, i int) (int, bool) {
	if i < len(line) && line[i] == '"' {
		for i++; i < len(line); i++ {
			switch c := line[i]; {
			case c == '"':
				return i + 1, true
			case c == '\\':
				if i++; i >= len(line) || class[line[i]]&cValue == 0 {
					return 0, false
				}
			case class[c]&cQdtext == 0:
				return 0, false
			}
		}
		return 0, false
	}
	start := i
	for i < len(line) && class[line[i]]&cToken != 0 {
		i++
	}
	return i, i > start
}

func skipOWS(b []byte, i int) int {
	for i < len(b) && isOWS(b[i]) {
		i++
	}
	return i
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// forbiddenTrailers are the fields RFC 9110 §6.5.1 says a sender must not
// put in a trailer section because they must be known before the content:
// framing, routing, request modifiers (controls and conditionals),
// authentication, response control and content format. Trailers are
// discarded, so accepting one would be harmless here; refusing it is not
// for us but for whatever sits in front of or behind us that might merge
// it into the header section, and it follows net/http's list, extended to
// the whole of those categories.
var forbiddenTrailers = []string{
	// framing, connection and routing
	"transfer-encoding", "content-length", "trailer", "te", "connection",
	"keep-alive", "proxy-connection", "upgrade", "host",
	// request modifiers: controls and conditionals
	"cache-control", "expect", "max-forwards", "pragma", "range",
	"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
	// authentication and state
	"authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
	"cookie", "set-cookie",
	// response control
	"age", "expires", "date", "location", "retry-after", "vary", "warning",
	// content format
	"content-type", "content-encoding", "content-range", "content-language", "content-location",
}

// forbiddenTrailer reports whether a trailer field named name (or spelt
// with '_' for '-', see aliasFold) is one of forbiddenTrailers.
func forbiddenTrailer(name []byte) bool {
	for _, f := range forbiddenTrailers {
		if aliasFold(name, f) {
			return true
		}
	}
	return false
}
