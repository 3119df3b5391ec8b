package http1

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var parseSeeds = []string{
	browserGET,
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"\r\nPOST /f HTTP/1.1\nHost: a\nContent-Length: 5, 5\nContent-Length: 005\n\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	"PUT /x HTTP/1.1\r\nHost: [::1]:80\r\nExpect: 100-continue\r\nContent-Type: a/b\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n",
	"GET http://a/b?c HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\rHost: a\r\n\r\n",
	"GET / HTTP/2.0\r\n\r\n",
	"GET /\x00 HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\x7f\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, keep-alive\r\nCookie: a=b\r\nCookie: c=d\r\n\r\n",
}

// FuzzParse checks Parse never panics, stays inside buf, is consistent with
// itself on prefixes and tighter limits, and agrees with net/http on
// everything both accept.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data) })
}

// checkParse is FuzzParse's oracle; it reports whether both parsers
// accepted data, so generated tests can tell they reached the comparison.
func checkParse(t *testing.T, data []byte) bool {
	var r Request
	n, err := r.Parse(data, nil)
	require.GreaterOrEqual(t, n, 0)
	require.LessOrEqual(t, n, len(data))

	var small Request
	tight := &Limits{MaxURL: 64, MaxHeaderName: 16, MaxHeaderValue: 64, MaxHeaders: 8, MaxHeaderBytes: 512}
	if m, serr := small.Parse(data, tight); serr == nil {
		// Whatever fits tight limits parses the same under defaults.
		require.NoError(t, err)
		require.Equal(t, m, n)
	}
	if err != nil {
		require.Zero(t, n)
		require.NotZero(t, StatusOf(err))
		return false
	}
	require.Positive(t, n)
	m, err := r.Parse(data[:n], nil)
	require.NoError(t, err, "head alone")
	require.Equal(t, n, m)
	_, err = r.Parse(data[:n-1], nil)
	require.ErrorIs(t, err, ErrIncomplete, "head minus one byte")
	_, err = r.Parse(data[:n], nil)
	require.NoError(t, err)

	std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[:n])))
	if err != nil {
		return false // net/http is stricter here; fine
	}
	require.Equal(t, std.Method, string(r.Method))
	require.Equal(t, std.RequestURI, string(r.Target))
	if std.ProtoMinor > 1 { // served as HTTP/1.1 (RFC 9110 §2.5)
		std.Proto, std.ProtoMinor = "HTTP/1.1", 1
	}
	require.Equal(t, std.Proto, string(r.Proto))
	require.Equal(t, std.ProtoMajor, r.Major)
	require.Equal(t, std.ProtoMinor, r.Minor)
	require.Equal(t, std.Close, r.Close, "Close")
	require.Equal(t, len(std.TransferEncoding) > 0, r.Chunked, "Chunked")
	if !r.Chunked {
		want := r.ContentLength
		if want < 0 {
			want = 0
		}
		require.Equal(t, want, std.ContentLength, "Content-Length")
	}
	if !bytes.Contains(r.Target, []byte("%")) { // net/url unescapes a target's host
		require.Equal(t, std.Host, string(r.Host))
	}
	require.Equal(t, headerSet(std.Header), headerSet(ours(&r)))
	return true
}

func ours(r *Request) http.Header {
	h := http.Header{}
	for _, f := range r.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		h[k] = append(h[k], string(f.Value))
	}
	return h
}

// headerSet drops the fields net/http rewrites (Host moves to req.Host,
// framing fields are consumed or normalized, Pragma adds Cache-Control,
// Trailer of a chunked request moves to req.Trailer).
func headerSet(h http.Header) http.Header {
	h = h.Clone()
	for _, k := range []string{"Host", "Transfer-Encoding", "Content-Length", "Cache-Control", "Trailer"} {
		delete(h, k)
	}
	return h
}

var chunkedSeeds = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n",
	"5;a=b;c=\"d\\\"\"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX: y\r\n\r\n",
	"5\nhello\r\n0\r\n\r\n",
	"5\r\nhello\n0\r\n\r\n",
	"ffffffffffffffff\r\n",
	"5 \r\nhello\r\n0\r\n\r\n",
	"0\r\nA: b\r\n c\r\n\r\n",
	"3\r\nabc",
}

// TestParseAgainstNetHTTP runs the fuzz oracle over requests assembled from
// fragments chosen to hit the rules, so every run compares thousands of
// heads both parsers accept.
func TestParseAgainstNetHTTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	methods := []string{"GET", "POST", "PUT", "OPTIONS", "CONNECT", "PURGE", "get", "G.T", "M~"}
	targets := []string{"/", "/a?b", "*", "a.b:443", "[::1]:80", "http://a/b", "HTTPS://A:1?x", "/%zz", "/%41",
		"/a#f", "/\x80", "//x", "http:/x", "a:b", "/?", "?x", "http://u@a/", "http://a%41/"}
	protos := []string{"HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1", "HTTP/1.2"}
	names := []string{"Host", "host", "Content-Length", "Transfer-Encoding", "Connection", "Expect", "Content-Type",
		"X", "X_Y", "a.b", "Cookie", "Pragma", "Trailer", "X~!"}
	values := []string{"a", "", " a ", "5", "5, 5", "05", "5,6", "chunked", "Chunked", "gzip, chunked", ",chunked",
		"close", "keep-alive", "Keep-Alive, close", "100-continue", "a:80", "[::1]", "a b", "\x80\xff", "a\tb",
		"x/y; b=\"q\"", "no-cache", "a@b", "a%20b", "-1", "99999999999999999999", "a,b", "[v1.x]:1", "a:", "_a"}
	eol := func() string { // a bare LF now and then: always refused
		if rng.IntN(30) == 0 {
			return "\n"
		}
		return "\r\n"
	}
	both := 0
	for range 20000 {
		var b strings.Builder
		b.WriteString(pick(methods...) + " " + pick(targets...) + " " + pick(protos...) + eol())
		for j := rng.IntN(5); j > 0; j-- {
			b.WriteString(pick(names...) + ":" + pick("", " ", "\t") + pick(values...) + eol())
		}
		b.WriteString(eol())
		if checkParse(t, []byte(b.String())) {
			both++
		}
	}
	t.Logf("%d heads accepted by both", both)
	assert.Greater(t, both, 1000, "comparisons made")
}

// FuzzChunked checks the decoder never panics, never hands out more than
// asked, decodes the same whatever the read size, and agrees with
// net/http/httputil on the data: one output is always a prefix of the other,
// and they are equal when both succeed.
func FuzzChunked(f *testing.F) {
	for _, s := range chunkedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decode := func(step int) ([]byte, error) {
			c := NewChunkedReader(BufioSource{bufio.NewReader(bytes.NewReader(data))}, ChunkLimits{})
			var out []byte
			p := make([]byte, step)
			for {
				n, err := c.Read(p)
				require.LessOrEqual(t, n, step)
				out = append(out, p[:n]...)
				if err != nil {
					require.LessOrEqual(t, len(c.Trailers()), DefaultMaxTrailers)
					return out, err
				}
			}
		}
		got, err := decode(4096)
		got3, err3 := decode(3)
		require.Equal(t, got, got3)
		require.Equal(t, err, err3)
		if err != io.EOF && err != io.ErrUnexpectedEOF {
			require.NotZero(t, StatusOf(err))
		}

		std, stdErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		if err == io.EOF && stdErr == nil {
			require.Equal(t, string(std), string(got))
			return
		}
		short, long := got, std
		if len(short) > len(long) {
			short, long = long, short
		}
		require.True(t, slices.Equal(short, long[:len(short)]), "decoded data diverges")
	})
}
