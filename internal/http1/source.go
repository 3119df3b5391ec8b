package http1

import (
	"bufio"
	"errors"
	"io"
)

// Source is the buffered byte source a ChunkedReader reads from: in the
// server, the connection's reader. Chunk data goes from it straight into the
// caller's slice through Read; the framing lines come through ReadLine.
type Source interface {
	io.Reader

	// ReadLine returns the next line INCLUDING its line terminator: the
	// LF and the CR before it, if any (exactly what bufio.Reader.ReadSlice
	// ('\n') returns). The decoder needs the terminator to refuse a bare
	// LF, which RFC 9112 (erratum 7633) does not allow in chunked framing
	// and which request smugglers use (CVE-2025-22871). The slice need only
	// stay valid until the next call on the Source.
	//
	// If no LF appears within max bytes (terminator included) ReadLine
	// returns ErrLineTooLong; it may have consumed input, as the decoder
	// treats that as fatal. At end of input it returns io.EOF, or
	// io.ErrUnexpectedEOF after a partial line.
	ReadLine(max int) ([]byte, error)
}

// ErrLineTooLong is what a Source's ReadLine returns when no line end lies
// within max bytes. The ChunkedReader turns it into ErrChunkLineTooLong for
// a chunk-size line and ErrHeaderTooLarge for a trailer line.
var ErrLineTooLong = errors.New("http1: line too long")

// BufioSource adapts a *bufio.Reader to Source, for tests and for servers
// that read through bufio. A line longer than the reader's buffer counts as
// too long whatever max says. Being a single pointer, it converts to Source
// without allocating.
type BufioSource struct{ R *bufio.Reader }

// Read reads chunk data; bufio hands large reads straight to the
// underlying reader, so data is copied at most once.
func (s BufioSource) Read(p []byte) (int, error) { return s.R.Read(p) }

// ReadLine implements Source.ReadLine with bufio.Reader.ReadSlice.
func (s BufioSource) ReadLine(max int) ([]byte, error) {
	line, err := s.R.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > max:
		return nil, ErrLineTooLong
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	return line, nil
}
