package form

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrInvalidCookieName is wrapped by the error FormatSetCookie returns for a
// name that is not an RFC 6265 token.
var ErrInvalidCookieName = errors.New("form: invalid cookie name")

// expiresFormat is RFC 1123 in GMT, the form net/http.TimeFormat uses.
const expiresFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// FormatSetCookie returns the value of a Set-Cookie header for a cookie valid
// for the whole site (path=/).
//
// Name and value are percent-encoded as CGI.pm does — every byte outside
// [A-Za-z0-9_.~-] becomes %XX — so any string survives the round trip through
// [Decoder.ParseCookies]. lifetime selects the kind of cookie:
//   - > 0: persistent; expires= (RFC 1123, GMT) and Max-Age (whole seconds,
//     rounded up) both say when, for old and new browsers alike;
//   - == 0: a session cookie, without expiry;
//   - < 0: a deletion; expires= lies in 1970 and Max-Age=0.
//
// now is the time expires= counts from (time.Now() when zero); taking it as a
// parameter keeps the output testable. The name must be a non-empty RFC 6265
// token; otherwise the error wraps ErrInvalidCookieName.
func FormatSetCookie(name, value string, lifetime time.Duration, now time.Time) (string, error) {
	if !isToken(name) {
		return "", fmt.Errorf("%w: %q", ErrInvalidCookieName, name)
	}
	var arr [128]byte
	b := appendEscaped(arr[:0], name)
	b = append(b, '=')
	b = appendEscaped(b, value)
	b = append(b, "; path=/"...)
	switch {
	case lifetime > 0:
		if now.IsZero() {
			now = time.Now()
		}
		b = append(b, "; expires="...)
		b = now.Add(lifetime).UTC().AppendFormat(b, expiresFormat)
		b = append(b, "; Max-Age="...)
		b = strconv.AppendInt(b, int64((lifetime+time.Second-1)/time.Second), 10)
	case lifetime < 0:
		b = append(b, "; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"...)
	}
	return string(b), nil
}

func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&0xF])
		}
	}
	return dst
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '~' || c == '-'
}

// isToken reports whether s is an RFC 2616 token, which RFC 6265 requires of
// a cookie name: visible ASCII except separators.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F {
			return false
		}
		switch c {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
			return false
		}
	}
	return true
}
