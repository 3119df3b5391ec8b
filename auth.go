package httpev

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// BasicAuth returns the credentials of an Authorization: Basic header,
// HTTP::Request's authorization_basic().
func (q *CGI) BasicAuth() (user, password string, ok bool) {
	h := string(q.cn.req.Get("Authorization"))
	scheme, cred, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return user, password, ok
}

// RequireBasicAuth checks the request's Basic credentials with check and,
// when they are missing or refused, answers 401 with a WWW-Authenticate
// challenge for realm and returns false: the whole SimpleHTTP basic-auth
// snippet in one call. The callback returns at once when it is false.
func (q *CGI) RequireBasicAuth(realm string, check func(user, password string) bool) bool {
	if user, pass, ok := q.BasicAuth(); ok && check(user, pass) {
		return true
	}
	realm = quoteEscaper.Replace(realm)
	q.Header(http.Header{
		"Status":           {"401 Unauthorized"},
		"Content-Type":     {"text/plain; charset=utf-8"},
		"Www-Authenticate": {`Basic realm="` + realm + `", charset="UTF-8"`},
	})
	q.Print("401 Unauthorized\n")
	return false
}

// quoteEscaper escapes a quoted-string's contents (RFC 9110 section 5.6.4).
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// SecureCompare compares secrets in constant time, for check functions.
func SecureCompare(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
