package httpev

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHelloDefaults(t *testing.T) {
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		fmt.Fprintf(c, "hello %s\n", c.Param("name"))
	})
	resp, body := get(t, base+"/?name=world")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello world\n", body)
	assert.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	assert.Equal(t, "12", resp.Header.Get("Content-Length"))
	assert.Equal(t, "httpev", resp.Header.Get("Server"))
	_, err := http.ParseTime(resp.Header.Get("Date"))
	assert.NoError(t, err)
}

func TestHeaderStatusAndCookies(t *testing.T) {
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		require.NoError(t, c.SetCookies(map[string]string{"sid": "a b"}, time.Hour))
		c.Header(http.Header{"Status": {"404 Nope"}, "Content-Type": {"text/plain"}, "X-Test": {"1", "2"}})
		c.Print("missing")
	})
	resp, body := get(t, base+"/x")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "404 Nope", resp.Status)
	assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	assert.Equal(t, []string{"1", "2"}, resp.Header.Values("X-Test"))
	assert.Equal(t, "missing", body)
	ck := resp.Cookies()
	require.Len(t, ck, 1)
	assert.Equal(t, "sid", ck[0].Name)
	assert.Contains(t, resp.Header.Get("Set-Cookie"), "path=/")
}

func TestParams(t *testing.T) {
	type seen struct {
		get, post, params []string
		param, cookie     string
		names             []string
	}
	got := make(chan seen, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		got <- seen{c.Get("a"), c.Post("a"), c.Params("a"), c.Param("a"), c.Cookie("sid"), c.ParamNames()}
	})
	req, _ := http.NewRequest("POST", base+"/p?a=1&a=2&b=%41+x", strings.NewReader("a=3&c=%E2%82%AC"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "sid=xyz; other=1")
	resp, err := client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	s := <-got
	assert.Equal(t, []string{"1", "2"}, s.get)
	assert.Equal(t, []string{"3"}, s.post)
	assert.Equal(t, []string{"1", "2", "3"}, s.params)
	assert.Equal(t, "1", s.param)
	assert.Equal(t, "xyz", s.cookie)
	assert.Equal(t, []string{"a", "b", "c"}, s.names)
}

func TestLegacyCharset(t *testing.T) {
	got := make(chan string, 2)
	_, _, base := testServer(t, Options{LegacyCharset: "windows-1251"}, ListenOptions{}, func(c *CGI) {
		got <- c.Param("x")
		got <- c.Param("u")
	})
	get(t, base+"/?x=%F2%E5%EA%F1%F2&u=%D1%82%D0%B5%D0%BA%D1%81%D1%82")
	assert.Equal(t, "текст", <-got)
	assert.Equal(t, "текст", <-got)
}

func TestUnknownCharsetFailsNew(t *testing.T) {
	_, err := New(Options{TmpPath: t.TempDir(), LegacyCharset: "no-such-charset"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-charset")
}

func TestEnv(t *testing.T) {
	got := make(chan map[string]string, 1)
	_, l, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		env := c.Envs()
		env["one:HTTP_X_REAL_IP"] = c.Env("HTTP_X_REAL_IP")
		got <- env
	})
	req, _ := http.NewRequest("PUT", base+"/a%20b/c?q=1", strings.NewReader("body"))
	req.Header.Set("X-Real-IP", "10.1.2.3")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	env := <-got
	port := fmt.Sprint(l.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	assert.Equal(t, "PUT", env["REQUEST_METHOD"])
	assert.Equal(t, "/a%20b/c?q=1", env["REQUEST_URI"])
	assert.Equal(t, "/a%20b/c", env["SCRIPT_NAME"])
	assert.Equal(t, "/a b/c", env["DOCUMENT_URI"])
	assert.Equal(t, "q=1", env["QUERY_STRING"])
	assert.Equal(t, "HTTP/1.1", env["SERVER_PROTOCOL"])
	assert.Equal(t, "127.0.0.1", env["REMOTE_ADDR"], "X-Real-IP ignored without Backend")
	assert.NotEmpty(t, env["REMOTE_PORT"])
	assert.Equal(t, port, env["SERVER_PORT"])
	assert.Equal(t, "application/json", env["CONTENT_TYPE"])
	assert.Equal(t, "4", env["CONTENT_LENGTH"])
	assert.Equal(t, "10.1.2.3", env["HTTP_X_REAL_IP"])
	assert.Equal(t, "10.1.2.3", env["one:HTTP_X_REAL_IP"])
	assert.Equal(t, "CGI/1.1", env["GATEWAY_INTERFACE"])
}

func TestBackendRealIP(t *testing.T) {
	cases := []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"trust every peer", nil, "10.1.2.3"},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "10.1.2.3"},
		{"untrusted peer cannot spoof", []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}, "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			_, _, base := testServer(t, Options{Backend: true, TrustedProxies: tc.trusted}, ListenOptions{},
				func(c *CGI) { got <- c.Env("REMOTE_ADDR") })
			req, _ := http.NewRequest("GET", base+"/", nil)
			req.Header.Set("X-Real-IP", "10.1.2.3")
			resp, err := client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.want, <-got)
		})
	}
}

func TestStreamedBody(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			_, _, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
				n, err := io.Copy(io.Discard, c.Body())
				fmt.Fprintf(c, "%d %v", n, err)
			})
			body := io.Reader(strings.NewReader(strings.Repeat("x", 300000)))
			if chunked {
				body = io.MultiReader(body) // hides the length: net/http sends it chunked
			}
			resp, err := client().Post(base+"/", "application/octet-stream", body)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, "300000 <nil>", string(b))
		})
	}
}

func TestChunkedTrailersRaw(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		b, err := io.ReadAll(c.Body())
		fmt.Fprintf(c, "%s|%v", b, err)
	})
	conn, br := rawConn(t, l)
	_, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"+
		"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	_, body := readResponse(t, br, "POST")
	assert.Equal(t, "hello world|<nil>", body)
	_, body = readResponse(t, br, "GET")
	assert.Equal(t, "|<nil>", body)
}

func TestFormValuesFromPostForm(t *testing.T) {
	got := make(chan []string, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) { got <- c.Post("v") })
	resp, err := client().PostForm(base+"/", url.Values{"v": {"a&b", "c d"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"a&b", "c d"}, <-got)
}

func TestCookieNames(t *testing.T) {
	got := make(chan []string, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) { got <- c.CookieNames() })
	req, _ := http.NewRequest("GET", base, nil)
	req.Header.Set("Cookie", "b=1; a=2; b=3")
	resp, err := client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{"b", "a"}, <-got)
}

// TestRequestObjectSize keeps the request object, the one allocation per
// request, in the 256-byte size class on 64-bit systems: its size sets how
// often the garbage collector runs under load. Rarely used parts (Async's
// further functions, what waiting on Context needs, why a request was
// dropped or why its output failed, StartTimer and Attach, an upload's
// pause) live behind pointers made on first use; what is the connection's
// (its server and listener, the Buffer's settings and spare slice) is
// reached through it; flags share one word.
func TestRequestObjectSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(CGI{}), uintptr(256))
}

// TestConnObjectSize keeps the connection object in the 1,152-byte size
// class on 64-bit systems: every idle keep-alive connection holds one, and
// bench/run idle measures what each costs. A part only some connections use
// (the chunked reader, say) goes behind a pointer made on first use.
func TestConnObjectSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit systems")
	}
	assert.LessOrEqual(t, unsafe.Sizeof(conn{}), uintptr(1152))
}

// TestStatusLine: the status line of named codes (made once, statusLines),
// of a code net/http does not name, and of a reason the application set,
// over HTTP/1.1 and HTTP/1.0, read off a raw socket.
func TestStatusLine(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		switch c.Param("s") {
		case "gone":
			c.Header(http.Header{"Status": {"404 Gone Fishing"}})
		case "":
		default:
			c.Header(http.Header{"Status": {c.Param("s")}})
		}
		c.WriteString("x")
	})
	for _, tc := range []struct{ query, proto, want string }{
		{"", "HTTP/1.1", "HTTP/1.1 200 OK\r\n"},
		{"s=404", "HTTP/1.1", "HTTP/1.1 404 Not Found\r\n"},
		{"s=503", "HTTP/1.0", "HTTP/1.0 503 Service Unavailable\r\n"},
		{"s=299", "HTTP/1.1", "HTTP/1.1 299 Status\r\n"},
		{"s=799", "HTTP/1.1", "HTTP/1.1 799 Status\r\n"},
		{"s=gone", "HTTP/1.1", "HTTP/1.1 404 Gone Fishing\r\n"},
	} {
		nc, br := rawConn(t, l)
		_, err := io.WriteString(nc, "GET /?"+tc.query+" "+tc.proto+"\r\nHost: x\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, tc.want, line, tc.query)
		nc.Close()
	}
}
