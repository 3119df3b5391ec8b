package multipart

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndexDelimiterMatchesBytesIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, boundary := range []string{"a", "-", "xYzZY", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "0123456789abcdef"} {
		for _, lf := range []bool{false, true} {
			p := NewParser(boundary, Limits{}, new(nopHandler))
			if lf {
				p.nlDash = p.pat[1:]
			}
			// Content built from pieces of the delimiter, so that near
			// misses, anchor hits and real matches are all frequent.
			alphabet := []string{"\r", "\n", "-", "--", string(p.pat[p.anchor]), boundary, boundary[:len(boundary)/2], "x", string(p.nlDash)}
			for range 3000 {
				var data []byte
				for range rng.IntN(60) {
					data = append(data, alphabet[rng.IntN(len(alphabet))]...)
				}
				require.Equal(t, bytes.Index(data, p.nlDash), p.indexDelimiter(data), "boundary %q lf %v data %q", boundary, lf, data)
			}
		}
	}
}

func TestPickAnchor(t *testing.T) {
	tests := []struct{ boundary, want string }{
		{"----WebKitFormBoundary7MA4YWxkTrZu0gW", "W"},
		{"------------------------d74496d66958873e", "3"},
		{"-", "-"},
		{"eeeeQeeee", "Q"},
	}
	for _, tt := range tests {
		pat := []byte("\r\n--" + tt.boundary)
		require.Equal(t, tt.want, string(pat[pickAnchor(pat)]), tt.boundary)
	}
}
