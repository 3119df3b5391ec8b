package http1

import (
	"errors"
	"strconv"
)

// Error is a request the server must refuse, carrying the status code to
// answer with. The parser returns it (or an error wrapping it with a detail)
// so the connection loop can write "HTTP/1.1 <Status> <Reason>" and close
// without a table of its own. Compare with errors.Is against the sentinels
// below; identity, not value, is what matches.
type Error struct {
	Status int    // HTTP status code for the answer
	Reason string // standard reason phrase for the status line
	msg    string // what went wrong, for logs; empty means Reason
}

// Error returns "http1: <what went wrong> (<Status>)".
func (e *Error) Error() string {
	m := e.msg
	if m == "" {
		m = e.Reason
	}
	return "http1: " + m + " (" + strconv.Itoa(e.Status) + ")"
}

// ErrIncomplete means the buffer holds the start of a valid head that is
// still within every limit: read more and call Parse again.
var ErrIncomplete = errors.New("http1: incomplete request head")

// The refusals. Each one ends the request and the connection.
var (
	// ErrMalformed is any syntax or framing violation (400).
	ErrMalformed = &Error{400, "Bad Request", "malformed request"}
	// ErrURITooLong means the request-target is over Limits.MaxURL (414).
	ErrURITooLong = &Error{414, "URI Too Long", "request-target too long"}
	// ErrHeaderTooLarge means one field or the whole head (or the trailer
	// section of a chunked body) is over its byte limit (431).
	ErrHeaderTooLarge = &Error{431, "Request Header Fields Too Large", "header too large"}
	// ErrTooManyHeaders means more fields than Limits.MaxHeaders (or trailer
	// fields than ChunkLimits.MaxTrailers) (431).
	ErrTooManyHeaders = &Error{431, "Request Header Fields Too Large", "too many header fields"}
	// ErrVersion is an HTTP version whose major version is not 1 (505);
	// HTTP/1.2 and later minor versions are served as HTTP/1.1.
	ErrVersion = &Error{505, "HTTP Version Not Supported", "unsupported HTTP version"}
	// ErrNotImplemented is a transfer coding other than chunked applied
	// before the final chunked (we cannot undo it), or a method longer than
	// any server implements (501).
	ErrNotImplemented = &Error{501, "Not Implemented", "not implemented"}
	// ErrChunkLineTooLong is a chunk-size line (with its extensions) over
	// ChunkLimits.MaxLine. It is 400, not 413: the body is not too large, its
	// framing is abusive, and nothing legitimate sends kilobyte chunk lines.
	ErrChunkLineTooLong = &Error{400, "Bad Request", "chunk line too long"}
)

// StatusOf returns the status code to answer err with: the Status of the
// *Error in err's chain, 400 for any other non-nil error (a head cut short by
// EOF is a bad request), and 0 for nil.
func StatusOf(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 400
}

// detailError adds what exactly was wrong to a sentinel. The parser's
// details are package-level values, so refusing a request allocates nothing.
type detailError struct {
	base   *Error
	detail string
}

func (e *detailError) Error() string { return e.base.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error { return e.base }

func detail(base *Error, s string) error { return &detailError{base, s} }

var (
	errBareCR         = detail(ErrMalformed, "CR not followed by LF")
	errBareLF         = detail(ErrMalformed, "LF not preceded by CR")
	errLeadingLines   = detail(ErrMalformed, "too many empty lines before the request line")
	errMethod         = detail(ErrMalformed, "invalid method")
	errMethodTooLong  = detail(ErrNotImplemented, "method too long")
	errTarget         = detail(ErrMalformed, "invalid request-target")
	errTargetForm     = detail(ErrMalformed, "request-target form does not fit the method")
	errURITooLong     = detail(ErrURITooLong, "request-target over MaxURL")
	errProto          = detail(ErrMalformed, "invalid HTTP version")
	errRequestLine    = detail(ErrMalformed, "invalid request line")
	errHeadTooLarge   = detail(ErrHeaderTooLarge, "head over MaxHeaderBytes")
	errNameTooLong    = detail(ErrHeaderTooLarge, "field name over MaxHeaderName")
	errValueTooLong   = detail(ErrHeaderTooLarge, "field value over MaxHeaderValue")
	errTooManyHeaders = detail(ErrTooManyHeaders, "more than MaxHeaders fields")
	errObsFold        = detail(ErrMalformed, "obsolete line folding")
	errFieldName      = detail(ErrMalformed, "invalid field name")
	errFieldValue     = detail(ErrMalformed, "invalid character in field value")
	errHost           = detail(ErrMalformed, "invalid Host")
	errHostMissing    = detail(ErrMalformed, "HTTP/1.1 request without Host")
	errHostDup        = detail(ErrMalformed, "more than one Host")
	errHostEmpty      = detail(ErrMalformed, "empty Host in HTTP/1.1")
	errFramingAlias   = detail(ErrMalformed, "field name that normalises to a framing field")
	errContentType    = detail(ErrMalformed, "more than one Content-Type")
	errContentLength  = detail(ErrMalformed, "invalid Content-Length")
	errCLDup          = detail(ErrMalformed, "more than one Content-Length")
	errConnection     = detail(ErrMalformed, "invalid Connection")
	errTE             = detail(ErrMalformed, "invalid Transfer-Encoding")
	errTEWithCL       = detail(ErrMalformed, "Transfer-Encoding with Content-Length")
	errTE10           = detail(ErrMalformed, "Transfer-Encoding in HTTP/1.0")
	errTENotChunked   = detail(ErrMalformed, "chunked is not the final transfer coding")
	errTEUnsupported  = detail(ErrNotImplemented, "unsupported transfer coding")

	errChunkLine     = detail(ErrChunkLineTooLong, "chunk-size line over MaxLine")
	errChunkSize     = detail(ErrMalformed, "invalid chunk size")
	errChunkExt      = detail(ErrMalformed, "invalid chunk extension")
	errChunkCRLF     = detail(ErrMalformed, "chunk data not followed by CRLF")
	errChunkLF       = detail(ErrMalformed, "chunked line not ended by CRLF")
	errChunkOverhead = detail(ErrMalformed, "chunked encoding carries too much non-data")
	errTrailerLarge  = detail(ErrHeaderTooLarge, "trailer section too large")
	errTrailerCount  = detail(ErrTooManyHeaders, "more than MaxTrailers trailer fields")
	errTrailerField  = detail(ErrMalformed, "field not allowed in a trailer section")
)
