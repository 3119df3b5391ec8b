package http1

// Default limits, used for every zero (or negative) Limits / ChunkLimits
// field. They admit any real browser or API client while keeping what one
// connection can make the server buffer to 64 KiB of head.
const (
	DefaultMaxURL          = 8 << 10 // RFC 9112 §3: support request lines of 8000 octets at least
	DefaultMaxHeaderName   = 4096
	DefaultMaxHeaderValue  = 4096
	DefaultMaxHeaders      = 100
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultMaxChunkLine    = 4096
	DefaultMaxTrailers     = 100
	DefaultMaxTrailerBytes = 16 << 10
)

// maxMethod bounds the method token. The longest registered method
// (UPDATEREDIRECTREF) has 17 bytes; RFC 9112 §3 answers a longer method than
// any implemented with 501.
const maxMethod = 64

// Limits bound what a request head may make the server hold, so a client
// cannot grow a connection's buffer without end. Parse reports an overflow as
// soon as the bytes read so far prove it, letting the caller stop reading.
// Zero fields mean the Default* value.
type Limits struct {
	MaxURL         int // bytes in the request-target; over it: ErrURITooLong (414)
	MaxHeaderName  int // bytes in one field name; over it: ErrHeaderTooLarge (431)
	MaxHeaderValue int // bytes in one trimmed field value; over it: ErrHeaderTooLarge (431)
	MaxHeaders     int // number of fields; over it: ErrTooManyHeaders (431)
	MaxHeaderBytes int // whole head incl. request line and final blank line; over it: ErrHeaderTooLarge (431)
}

func (l *Limits) orDefaults() Limits {
	var r Limits
	if l != nil {
		r = *l
	}
	r.MaxURL = orDefault(r.MaxURL, DefaultMaxURL)
	r.MaxHeaderName = orDefault(r.MaxHeaderName, DefaultMaxHeaderName)
	r.MaxHeaderValue = orDefault(r.MaxHeaderValue, DefaultMaxHeaderValue)
	r.MaxHeaders = orDefault(r.MaxHeaders, DefaultMaxHeaders)
	r.MaxHeaderBytes = orDefault(r.MaxHeaderBytes, DefaultMaxHeaderBytes)
	return r
}

// ChunkLimits bound what a chunked body's framing may make the server read
// and hold besides the data itself: chunk-size lines and trailer fields.
// Zero fields mean the Default* value.
type ChunkLimits struct {
	MaxLine         int // chunk-size line incl. extensions, without CRLF; over it: ErrChunkLineTooLong (400)
	MaxTrailers     int // number of trailer fields; over it: ErrTooManyHeaders (431)
	MaxTrailerBytes int // trailer section incl. line ends; over it: ErrHeaderTooLarge (431)
	MaxHeaderName   int // bytes in one trailer field name (431)
	MaxHeaderValue  int // bytes in one trimmed trailer field value (431)
}

func (l ChunkLimits) orDefaults() ChunkLimits {
	l.MaxLine = orDefault(l.MaxLine, DefaultMaxChunkLine)
	l.MaxTrailers = orDefault(l.MaxTrailers, DefaultMaxTrailers)
	l.MaxTrailerBytes = orDefault(l.MaxTrailerBytes, DefaultMaxTrailerBytes)
	l.MaxHeaderName = orDefault(l.MaxHeaderName, DefaultMaxHeaderName)
	l.MaxHeaderValue = orDefault(l.MaxHeaderValue, DefaultMaxHeaderValue)
	return l
}

// complete reports whether every limit is set, so Parse can use l as it
// is: a server resolves its defaults once, and copying them for every
// request was a measurable share of a small pipelined one.
func (l *Limits) complete() bool {
	return l != nil && l.MaxURL > 0 && l.MaxHeaderName > 0 && l.MaxHeaderValue > 0 &&
		l.MaxHeaders > 0 && l.MaxHeaderBytes > 0
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
