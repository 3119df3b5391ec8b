package httpev

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestParseOriginForm holds ServeHandler's fast path for request targets
// to url.ParseRequestURI: where it accepts a target, the URL must be the
// one ParseRequestURI gives.
func TestParseOriginForm(t *testing.T) {
	targets := []string{
		"/", "/db", "/queries?queries=20", "/a/b/c.html", "/q?", "/q??", "/q?a?b", "/q?a=1&b=%41",
		"//x", "/$&+,-./:;=@_~AZaz09", "/x?\x7f", "/x?\x01", "/x?#frag",
		// left to ParseRequestURI:
		"", "*", "x", "http://h/p", "/a%20b", "/a b", "/a#b", "/it's", "/(x)", "/a*", "/!", "/é", "/\x00",
	}
	for c := 0; c < 256; c++ { // every byte in the path and in the query
		targets = append(targets, "/p"+string(rune(c))+"q", "/p?"+string([]byte{byte(c)}))
	}
	accepted := 0
	for _, s := range targets {
		var got url.URL
		if !parseOriginForm(s, &got) {
			continue
		}
		accepted++
		want, err := url.ParseRequestURI(s)
		if !assert.NoError(t, err, "%q accepted by the fast path only", s) {
			continue
		}
		assert.Equal(t, *want, got, "%q", s)
	}
	assert.Greater(t, accepted, 100, "the fast path takes the common targets")
	for _, s := range []string{"/a%20b", "/a#b", "*", "http://h/p", "/x?\x01"} {
		assert.False(t, parseOriginForm(s, new(url.URL)), "%q", s)
	}
}
