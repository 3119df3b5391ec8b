package form

import (
	"errors"
	"math"
	"unicode/utf8"

	"golang.org/x/text/encoding"
)

// Default limits, used where a [Decoder] field is zero.
const (
	DefaultMaxFields   = 1024
	DefaultMaxNameLen  = 4096
	DefaultMaxValueLen = 4096
)

// Sentinel errors for limit overflows; test with [errors.Is]. The server maps
// them to 414 for a query string and 413 for a body.
var (
	ErrTooManyFields = errors.New("form: too many fields")
	ErrNameTooLong   = errors.New("form: field name too long")
	ErrValueTooLong  = errors.New("form: field value too long")
)

// Pair is one decoded name/value pair, both valid UTF-8.
type Pair struct{ Name, Value string }

// Decoder holds the decoding settings of one server. It has no mutable state,
// so one Decoder is safe for concurrent use; a nil *Decoder behaves as the
// zero Decoder (default limits, no legacy charset).
//
// For each limit, zero means the package default and a negative value means
// no limit. Lengths count decoded bytes (after %XX and '+' decoding, before
// any charset conversion), so a legacy-charset value may come out longer in
// UTF-8 than the limit; with no Legacy or a single-byte one, it never has
// more runes than the limit.
type Decoder struct {
	// Legacy is the charset that names and values which are not valid
	// UTF-8 are decoded from, e.g. Windows-1251 (see [LookupCharset]). When
	// nil, invalid bytes are kept with each invalid run replaced by U+FFFD,
	// as [strings.ToValidUTF8] does.
	Legacy encoding.Encoding

	MaxFields   int // pairs per call; overflow is ErrTooManyFields
	MaxNameLen  int // decoded bytes per name; overflow is ErrNameTooLong
	MaxValueLen int // decoded bytes per value; overflow is ErrValueTooLong
}

type limits struct{ fields, name, value int }

func (d *Decoder) limits() limits {
	if d == nil {
		return limits{DefaultMaxFields, DefaultMaxNameLen, DefaultMaxValueLen}
	}
	return limits{
		orDefault(d.MaxFields, DefaultMaxFields),
		orDefault(d.MaxNameLen, DefaultMaxNameLen),
		orDefault(d.MaxValueLen, DefaultMaxValueLen),
	}
}

func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return math.MaxInt
	}
	return v
}

// valid returns s when it is known or found to be UTF-8, and its
// legacy-charset decoding otherwise.
func (d *Decoder) valid(s string, known bool) string {
	if known || utf8.ValidString(s) {
		return s
	}
	return decodeLegacy(d.legacy(), s)
}

func (d *Decoder) legacy() encoding.Encoding {
	if d == nil {
		return nil
	}
	return d.Legacy
}
