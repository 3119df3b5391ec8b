package http1

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// head is what a parsed Request says, flattened to strings for comparison.
type head struct {
	Method, Target, Path, Query, Proto string
	CL                                 int64
	Chunked, Close, KeepAlive, Expect  bool
	Host, CType                        string
	Headers                            []string // "Name: Value"
}

func flatten(r *Request) head {
	h := head{
		Method: string(r.Method), Target: string(r.Target), Path: string(r.Path),
		Query: string(r.RawQuery), Proto: string(r.Proto), CL: r.ContentLength,
		Chunked: r.Chunked, Close: r.Close, KeepAlive: r.KeepAliveHdr,
		Expect: r.Expect100, Host: string(r.Host), CType: string(r.ContentType),
	}
	for _, f := range r.Headers {
		h.Headers = append(h.Headers, string(f.Name)+": "+string(f.Value))
	}
	return h
}

func get(target string, hdrs ...string) head {
	h := head{Method: "GET", Target: target, Path: target, Proto: "HTTP/1.1", CL: -1, Headers: hdrs}
	if p, q, ok := strings.Cut(target, "?"); ok {
		h.Path, h.Query = p, q
	}
	return h
}

func with(h head, f func(*head)) head { f(&h); return h }

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want head
	}{
		{"minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("/", "Host: a"), func(h *head) { h.Host = "a" })},
		{"query", "GET /p/q?x=1&y=%20?z HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("/p/q?x=1&y=%20?z", "Host: a"), func(h *head) { h.Host = "a" })},
		{"escapes", "GET /a%2Fb%c3%A9?q=100% HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("/a%2Fb%c3%A9?q=100%", "Host: a"), func(h *head) { h.Host = "a" })},
		{"any token method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("/x", "Host: a"), func(h *head) { h.Method, h.Host = "PURGE", "a" })},
		{"http/1.2 served as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
			with(get("/", "Host: a"), func(h *head) { h.Host = "a" })},
		{"leading empty lines", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("/", "Host: a"), func(h *head) { h.Host = "a" })},
		{"value OWS trimmed", "GET / HTTP/1.1\r\nHost:a\r\nX: \t v \t w\t \r\nE:\r\nF:   \r\n\r\n",
			with(get("/", "Host: a", "X: v \t w", "E: ", "F: "), func(h *head) { h.Host = "a" })},
		{"obs-text value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
			with(get("/", "Host: a", "X: caf\xc3\xa9"), func(h *head) { h.Host = "a" })},
		{"utf-8 target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("/caf\xc3\xa9", "Host: a"), func(h *head) { h.Host = "a" })},
		{"name kept as sent", "GET / HTTP/1.1\r\nhOsT: a\r\nx-a_b.c~!#$%&'*+^`|: 1\r\n\r\n",
			with(get("/", "hOsT: a", "x-a_b.c~!#$%&'*+^`|: 1"), func(h *head) { h.Host = "a" })},
		{"http/1.0 no host closes", "GET / HTTP/1.0\r\n\r\n",
			with(get("/"), func(h *head) { h.Proto, h.Close = "HTTP/1.0", true })},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			with(get("/", "Connection: Keep-Alive"), func(h *head) { h.Proto, h.KeepAlive = "HTTP/1.0", true })},
		{"http/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
			with(get("/", "Connection: keep-alive, close"), func(h *head) { h.Proto, h.Close = "HTTP/1.0", true })},
		{"http/1.1 close token", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade ,, CLOSE\r\n\r\n",
			with(get("/", "Host: a", "Connection: upgrade ,, CLOSE"), func(h *head) { h.Host, h.Close = "a", true })},
		{"http/1.1 keep-alive ignored", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
			with(get("/", "Host: a", "Connection: keep-alive"), func(h *head) { h.Host = "a" })},
		{"content-length", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\nContent-Type: text/plain\r\n\r\n",
			with(get("/f", "Host: a", "Content-Length: 42", "Content-Type: text/plain"), func(h *head) {
				h.Method, h.Host, h.CL, h.CType = "POST", "a", 42, "text/plain"
			})},
		{"content-length zero", "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
			with(get("/", "Content-Length: 0"), func(h *head) { h.Method, h.Proto, h.CL, h.Close = "POST", "HTTP/1.0", 0, true })},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
			with(get("/", "Host: a", "Transfer-Encoding: CHUNKED"), func(h *head) { h.Method, h.Host, h.Chunked = "POST", "a", true })},
		{"chunked with empty list elements", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n",
			with(get("/", "Host: a", "Transfer-Encoding: , chunked ,"), func(h *head) { h.Method, h.Host, h.Chunked = "POST", "a", true })},
		{"expect 100-continue", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n",
			with(get("/", "Host: a", "Expect: 100-Continue"), func(h *head) { h.Method, h.Host, h.Expect = "PUT", "a", true })},
		{"expect ignored in 1.0", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
			with(get("/", "Expect: 100-continue"), func(h *head) { h.Method, h.Proto, h.Close = "PUT", "HTTP/1.0", true })},
		{"other expectation", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: x\r\n\r\n",
			with(get("/", "Host: a", "Expect: x"), func(h *head) { h.Method, h.Host = "PUT", "a" })},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
			with(get("*", "Host: a"), func(h *head) { h.Method, h.Host = "OPTIONS", "a" })},
		{"connect authority", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
			with(get("example.com:443", "Host: example.com:443"), func(h *head) { h.Method, h.Host = "CONNECT", "example.com:443" })},
		{"absolute form", "GET http://ex.com/a?b HTTP/1.1\r\nHost: other\r\n\r\n",
			with(get("http://ex.com/a?b", "Host: other"), func(h *head) { h.Host, h.Path = "ex.com", "/a" })},
		{"absolute form without path", "GET HTTPS://[::1]:8443?q HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
			with(get("HTTPS://[::1]:8443?q", "Host: [::1]:8443"), func(h *head) { h.Host, h.Path = "[::1]:8443", "" })},
		{"connect authority wins", "CONNECT a:1 HTTP/1.1\r\nHost: b\r\n\r\n",
			with(get("a:1", "Host: b"), func(h *head) { h.Method, h.Host = "CONNECT", "a:1" })},
		{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
			with(get("/", "Host: [::1]:8080"), func(h *head) { h.Host = "[::1]:8080" })},
		{"empty host in 1.0", "GET / HTTP/1.0\r\nHost:\r\n\r\n",
			with(get("/", "Host: "), func(h *head) { h.Proto, h.Close = "HTTP/1.0", true })},
		{"pct-encoded host", "GET / HTTP/1.1\r\nHost: a%2Db.c:\r\n\r\n",
			with(get("/", "Host: a%2Db.c:"), func(h *head) { h.Host = "a%2Db.c:" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := r.Parse([]byte(tt.in), nil)
			require.NoError(t, err)
			assert.Equal(t, len(tt.in), n)
			assert.Equal(t, tt.want, flatten(&r))

			// Body bytes after the head are not consumed.
			n, err = r.Parse([]byte(tt.in+"BODY"), nil)
			require.NoError(t, err)
			assert.Equal(t, len(tt.in), n)

			// Every proper prefix is merely incomplete.
			for k := 0; k < len(tt.in); k++ {
				n, err := r.Parse([]byte(tt.in[:k]), nil)
				require.ErrorIs(t, err, ErrIncomplete, "prefix %q", tt.in[:k])
				require.Zero(t, n)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	var r Request
	_, err := r.Parse([]byte("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), nil)
	require.NoError(t, err)
	assert.Nil(t, r.RawQuery, "no '?' means no query")
	_, err = r.Parse([]byte("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n"), nil)
	require.NoError(t, err)
	assert.NotNil(t, r.RawQuery, "a bare '?' is an empty query")
	assert.Empty(t, r.RawQuery)
	assert.Equal(t, 1, r.Major)
	assert.Equal(t, 1, r.Minor)
}

func TestParseInvalid(t *testing.T) {
	const ok = "GET / HTTP/1.1\r\nHost: a\r\n"
	tests := []struct {
		name string
		in   string
		want error
	}{
		// request line
		{"double space after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"double space after target", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", ErrMalformed},
		{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"method non-token", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"method too long", strings.Repeat("M", 65) + " / HTTP/1.1\r\n\r\n", ErrNotImplemented},
		{"http/0.9", "GET /\r\n\r\n", ErrMalformed},
		{"no version", "GET / \r\n\r\n", ErrMalformed},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"version garbage", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", ErrMalformed},
		{"version too long", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", ErrMalformed},
		{"version short", "GET / HTTP/1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"http/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", ErrMalformed},
		{"http/1.x", "GET / HTTP/1.x", ErrMalformed},
		{"http/5 before its line ends", "GET / HTTP/5", ErrVersion},
		{"http/0 before its line ends", "GET / HTTP/0", ErrVersion},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: a\nX: y\n\n", ErrMalformed},
		{"bare LF ends request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", ErrMalformed},
		{"bare LF ends a field", ok + "X: y\nContent-Length: 5\r\n\r\n", ErrMalformed},
		{"bare LF ends head", ok + "\n", ErrMalformed},
		{"bare LF leading line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"http/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", ErrVersion},
		{"http/9.9", "GET / HTTP/9.9\r\n\r\n", ErrVersion},
		{"http/0.9 with version", "GET / HTTP/0.9\r\n\r\n", ErrVersion},
		{"bare CR ends request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", ErrMalformed},
		{"CR in target", "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"NUL in target", "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"DEL in target", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"CTL in long target", "GET /aaaaaaaaaaaaaaaaaaaa\x01aaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"too many empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"bare CR leading line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"asterisk without OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"connect origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"connect without port", "CONNECT a.com HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"authority-form without CONNECT", "GET a.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"absolute form userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"absolute form empty host", "GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"absolute form bad escape", "GET http://a/%x HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"bad escape in path", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"short escape in path", "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},
		{"scheme without slashes", "GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformed},

		// field syntax
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ErrMalformed},
		{"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", ErrMalformed},
		{"empty name", ok + ": x\r\n\r\n", ErrMalformed},
		{"no colon", ok + "X\r\n\r\n", ErrMalformed},
		{"name non-token", ok + "X(y: z\r\n\r\n", ErrMalformed},
		{"name with obs-text", ok + "X\xc3\xa9: z\r\n\r\n", ErrMalformed},
		{"obs-fold", ok + "X: a\r\n b\r\n\r\n", ErrMalformed},
		{"obs-fold tab", ok + "X: a\r\n\tb\r\n\r\n", ErrMalformed},
		{"whitespace after request line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", ErrMalformed},
		{"bare CR in value", ok + "X: a\rb\r\n\r\n", ErrMalformed},
		{"bare CR ends value", ok + "X: a\r\r\n\r\n", ErrMalformed},
		{"NUL in value", ok + "X: a\x00b\r\n\r\n", ErrMalformed},
		{"DEL in value", ok + "X: a\x7fb\r\n\r\n", ErrMalformed},
		{"CTL in value", ok + "X: a\x0bb\r\n\r\n", ErrMalformed},
		{"CTL late in long value", ok + "X: aaaaaaaaaaaaaaaaaaaaaaaaaa\x1baaaa\r\n\r\n", ErrMalformed},
		{"bare CR at end of head", ok + "\r\r\n", ErrMalformed},

		// Host
		{"missing host", "GET / HTTP/1.1\r\n\r\n", ErrMalformed},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ErrMalformed},
		{"empty host with absolute form", "GET http://a/ HTTP/1.1\r\nHost: \r\n\r\n", ErrMalformed},
		{"duplicate host", ok + "host: a\r\n\r\n", ErrMalformed},
		{"host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrMalformed},
		{"host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrMalformed},
		{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrMalformed},
		{"host bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", ErrMalformed},
		{"host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", ErrMalformed},
		{"host bad pct", "GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", ErrMalformed},

		// Content-Length
		{"cl sign", ok + "Content-Length: +5\r\n\r\n", ErrMalformed},
		{"cl negative", ok + "Content-Length: -1\r\n\r\n", ErrMalformed},
		{"cl inner space", ok + "Content-Length: 5 5\r\n\r\n", ErrMalformed},
		{"cl hex", ok + "Content-Length: 0x5\r\n\r\n", ErrMalformed},
		{"cl empty", ok + "Content-Length:\r\n\r\n", ErrMalformed},
		{"cl empty element", ok + "Content-Length: 5,\r\n\r\n", ErrMalformed},
		{"cl list differs", ok + "Content-Length: 5, 6\r\n\r\n", ErrMalformed},
		{"cl fields differ", ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrMalformed},
		{"cl fields agree", ok + "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", ErrMalformed},
		{"cl list agrees", ok + "Content-Length: 5, 5\r\n\r\n", ErrMalformed},
		{"cl list agrees without space", ok + "Content-Length: 1000,1000\r\n\r\n", ErrMalformed},
		{"cl spelt with underscore", ok + "Content_Length: 5\r\n\r\n", ErrMalformed},
		{"cl spelt with underscore, upper case", ok + "CONTENT_LENGTH: 5\r\n\r\n", ErrMalformed},
		{"te spelt with underscore", ok + "Transfer_Encoding: chunked\r\n\r\n", ErrMalformed},
		{"te spelt with underscore, lower case", ok + "transfer_encoding: chunked\r\n\r\n", ErrMalformed},
		{"cl overflow", ok + "Content-Length: 99999999999999999999\r\n\r\n", ErrMalformed},

		// Transfer-Encoding
		{"te with cl", ok + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrMalformed},
		{"cl with te", ok + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrMalformed},
		{"te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrMalformed},
		{"te not chunked", ok + "Transfer-Encoding: gzip\r\n\r\n", ErrMalformed},
		{"te chunked not last", ok + "Transfer-Encoding: chunked, gzip\r\n\r\n", ErrMalformed},
		{"te chunked not last across fields", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", ErrMalformed},
		{"te chunked twice", ok + "Transfer-Encoding: chunked, chunked\r\n\r\n", ErrMalformed},
		{"te chunked twice across fields", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrMalformed},
		{"te empty", ok + "Transfer-Encoding:\r\n\r\n", ErrMalformed},
		{"te params", ok + "Transfer-Encoding: chunked;q=1\r\n\r\n", ErrMalformed},
		{"te unsupported before chunked", ok + "Transfer-Encoding: gzip, chunked\r\n\r\n", ErrNotImplemented},
		{"te unsupported across fields", ok + "Transfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n\r\n", ErrNotImplemented},

		// other fields
		{"duplicate content-type", ok + "Content-Type: a/b\r\ncontent-type: a/b\r\n\r\n", ErrMalformed},
		{"connection non-token", ok + "Connection: close;x\r\n\r\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := r.Parse([]byte(tt.in), nil)
			require.ErrorIs(t, err, tt.want)
			assert.Zero(t, n)
			assert.Equal(t, tt.want.(*Error).Status, StatusOf(err))
		})
	}
}

func TestParseLimits(t *testing.T) {
	lim := &Limits{MaxURL: 32, MaxHeaderName: 16, MaxHeaderValue: 24, MaxHeaders: 4, MaxHeaderBytes: 256}
	line := func(target string) string { return "GET " + target + " HTTP/1.1\r\nHost: a\r\n" }
	fields := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-%d: v\r\n", i)
		}
		return b.String()
	}
	url32 := "/" + strings.Repeat("u", 31)
	// head256 is a head of 256+extra bytes.
	head256 := func(extra int) string {
		h := line("/") + "X: " + strings.Repeat("v", 100) + "\r\n"
		return h + "Y: " + strings.Repeat("w", 256+extra-len(h)-7) + "\r\n\r\n"
	}
	tests := []struct {
		name string
		in   string
		want error // nil: parses completely
	}{
		{"target at limit", line(url32) + "\r\n", nil},
		{"target over limit", line(url32+"u") + "\r\n", ErrURITooLong},
		{"name at limit", line("/") + strings.Repeat("n", 16) + ": v\r\n\r\n", nil},
		{"name over limit", line("/") + strings.Repeat("n", 17) + ": v\r\n\r\n", ErrHeaderTooLarge},
		{"value at limit", line("/") + "X: " + strings.Repeat("v", 24) + "     \r\n\r\n", nil},
		{"value over limit", line("/") + "X: " + strings.Repeat("v", 25) + "\r\n\r\n", ErrHeaderTooLarge},
		{"fields at limit", line("/") + fields(3) + "\r\n", nil},
		{"fields over limit", line("/") + fields(4) + "\r\n", ErrTooManyHeaders},
		{"head at limit", head256(0), nil},
		{"head over limit", head256(20), ErrHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			lim := lim
			if strings.HasPrefix(tt.name, "head") {
				lim = &Limits{MaxHeaderBytes: 256}
			}
			n, err := r.Parse([]byte(tt.in), lim)
			if tt.want == nil {
				require.NoError(t, err)
				require.Equal(t, len(tt.in), n)
				return
			}
			require.ErrorIs(t, err, tt.want)
			// The overflow shows before the head ends: find the shortest
			// failing prefix and check nothing after it succeeds.
			first := -1
			for k := 0; k <= len(tt.in); k++ {
				_, err := r.Parse([]byte(tt.in[:k]), lim)
				if err != ErrIncomplete {
					require.ErrorIs(t, err, tt.want, "prefix %q", tt.in[:k])
					if first < 0 {
						first = k
					}
				} else {
					require.Less(t, first, 0, "prefix %d incomplete after failing at %d", k, first)
				}
			}
			assert.Less(t, first, len(tt.in)-1, "overflow found only at the end")
		})
	}
}

func TestParseEarlyOverflow(t *testing.T) {
	// Partial heads that already prove an overflow must fail without
	// waiting for the line (or the head) to end.
	lim := &Limits{MaxURL: 16, MaxHeaderName: 8, MaxHeaderValue: 8, MaxHeaders: 2, MaxHeaderBytes: 128}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"target", "GET /" + strings.Repeat("a", 16), ErrURITooLong},
		{"method", strings.Repeat("A", 65), ErrNotImplemented},
		{"name", "GET / HTTP/1.1\r\n" + strings.Repeat("n", 9), ErrHeaderTooLarge},
		{"value", "GET / HTTP/1.1\r\nX: " + strings.Repeat("v", 9), ErrHeaderTooLarge},
		{"count", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC", ErrTooManyHeaders},
		{"bytes", ("GET / HTTP/1.1\r\n" + strings.Repeat("A: 1\r\n", 30))[:129], ErrHeaderTooLarge},
		{"garbage version", "GET / HTTP/1.1x", ErrMalformed},
		{"garbage proto", "GET / F", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			lim := lim
			if tt.name == "bytes" {
				lim = &Limits{MaxHeaderBytes: 128}
			}
			_, err := r.Parse([]byte(tt.in), lim)
			require.ErrorIs(t, err, tt.want)
			// One byte less is not yet proof.
			_, err = r.Parse([]byte(tt.in[:len(tt.in)-1]), lim)
			require.ErrorIs(t, err, ErrIncomplete)
		})
	}
}

func TestParseDefaults(t *testing.T) {
	var r Request
	long := "GET /" + strings.Repeat("a", DefaultMaxURL) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	_, err := r.Parse([]byte(long), nil)
	require.ErrorIs(t, err, ErrURITooLong)
	_, err = r.Parse([]byte(long), &Limits{MaxURL: -1})
	require.ErrorIs(t, err, ErrURITooLong, "negative means default")
	_, err = r.Parse([]byte(long), &Limits{MaxURL: DefaultMaxURL + 1})
	require.NoError(t, err)

	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", DefaultMaxHeaders) + "\r\n"
	_, err = r.Parse([]byte(many), &Limits{})
	require.ErrorIs(t, err, ErrTooManyHeaders)

	big := []byte("GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: yyyyyyyyyyyyyyyyyyyyyyyy\r\n", 3000))
	_, err = r.Parse(big, &Limits{MaxHeaders: 1 << 20})
	require.ErrorIs(t, err, ErrHeaderTooLarge)
}

func TestGet(t *testing.T) {
	var r Request
	_, err := r.Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nx-dup: 2\r\nEmpty:\r\n\r\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, "a", string(r.Get("HOST")))
	assert.Equal(t, "1", string(r.Get("x-DUP")), "first value wins")
	assert.NotNil(t, r.Get("empty"))
	assert.Empty(t, r.Get("empty"))
	assert.Nil(t, r.Get("missing"))
	assert.Nil(t, r.Get("hos"))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = r.Get("x-dup") }))
}

func TestReset(t *testing.T) {
	var r Request
	_, err := r.Parse([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"), nil)
	require.NoError(t, err)
	c := cap(r.Headers)
	r.Reset()
	assert.Equal(t, Request{Headers: r.Headers, ContentLength: -1}, r)
	assert.Empty(t, r.Headers)
	assert.Equal(t, c, cap(r.Headers))
	assert.Equal(t, Header{}, r.Headers[:1][0], "old entries cleared")
}

func TestParseZeroAlloc(t *testing.T) {
	buf := []byte(browserGET)
	var r Request
	_, err := r.Parse(buf, nil)
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = r.Parse(buf, nil) }))
	bad := []byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = r.Parse(bad, nil) }), "refusing allocates nothing either")
}

func TestStatusOf(t *testing.T) {
	assert.Equal(t, 0, StatusOf(nil))
	assert.Equal(t, 400, StatusOf(io.EOF))
	assert.Equal(t, 400, StatusOf(ErrIncomplete))
	assert.Equal(t, 414, StatusOf(fmt.Errorf("conn: %w", errURITooLong)))
	assert.Equal(t, 431, StatusOf(errTooManyHeaders))
	assert.Equal(t, 505, StatusOf(ErrVersion))
	assert.Equal(t, 501, StatusOf(errTEUnsupported))
	assert.True(t, errors.Is(errTooManyHeaders, ErrTooManyHeaders))
	assert.False(t, errors.Is(errTooManyHeaders, ErrHeaderTooLarge), "identity, not value")
	assert.Equal(t, "http1: too many header fields (431): more than MaxHeaders fields", errTooManyHeaders.Error())
	assert.Equal(t, "http1: I'm a teapot (418)", (&Error{Status: 418, Reason: "I'm a teapot"}).Error())
}
