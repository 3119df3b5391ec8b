package httpev

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Framing and request smuggling over raw sockets (SECURITY.md). Each row is
// one request as bytes; the test sends it, then a valid request on the same
// connection, and checks the answer and what happened next: after any error
// the connection must be finished (Connection: close, nothing after it
// parsed, the socket closed), and a request hidden in a body is never run.
//
// Every row runs in both threading modes, with the Linux poller on and off,
// as a connection's first request and as a keep-alive request that comes
// after an idle pause (a Threading-off connection is parked in the poller
// by then), against a callback that reads the body and one that does not.

const (
	smuggled   = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" // 0x23 bytes
	chunkedReq = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	nextReq    = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
)

// framingRow is one raw request.
type framingRow struct {
	name string
	req  string
	// status is the answer to req; bodyStatus marks rows whose head is
	// good and whose body is not: the callback runs, and the answer is the
	// reading callback's 400 or the other callback's 200, with a close.
	status     int
	bodyStatus bool
	// keep: the connection stays open and nextReq is answered; otherwise
	// the answer says Connection: close and the socket closes after it.
	keep bool
	// callback: the callback may run for req (it must not otherwise).
	callback bool
	// alone: nothing is sent after req (a head still open, or a body the
	// server must time out on); the answer must still come, never by the
	// client giving up.
	alone bool
	// halfClose: the client closes its sending side after req.
	halfClose bool
}

func chunked(body string) string { return chunkedReq + body }

func bad(name, req string) framingRow { return framingRow{name: name, req: req, status: 400} }

func badBody(name, req string) framingRow {
	return framingRow{name: name, req: req, bodyStatus: true, callback: true}
}

func good(name, req string) framingRow {
	return framingRow{name: name, req: req, status: 200, keep: true, callback: true}
}

func withLF(name, req string) framingRow { return bad(name, req) }

func framingRows() []framingRow {
	rows := []framingRow{
		// Part 1: a body whose framing fails finishes its connection. The
		// hidden GET must never be answered.
		badBody("chunk size with trailing space (issue example)", chunked("23 \r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk size with trailing tab", chunked("23\t\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk size then bare semicolon", chunked("23;\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk size with plus sign", chunked("+23\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk size plus zero", chunked("+0\r\n\r\n"+smuggled)),
		badBody("chunk size with 0x prefix", chunked("0x23\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk size with underscore", chunked("2_3\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("negative chunk size", chunked("-23\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("negative zero chunk size", chunked("-0\r\n\r\n"+smuggled)),
		badBody("empty chunk size", chunked("\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk size overflows int64", chunked("10000000000000023\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("bare CR in chunk size line", chunked("23\rx\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("bare CR ends chunk size line", chunked("23\r"+smuggled+"\r\n0\r\n\r\n")),
		badBody("bare LF ends chunk size line", chunked("23\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("bare LF ends last chunk line", chunked("0\n\r\n"+smuggled)),
		badBody("control byte in chunk extension name", chunked("23;a\x01b\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("control byte in chunk extension value", chunked("23;a=b\x01\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("NUL in quoted chunk extension", chunked("23;a=\"b\x00\"\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("unterminated quoted chunk extension", chunked("23;a=\"b\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk extension without name", chunked("23;=b\r\n"+smuggled+"\r\n0\r\n\r\n")),
		badBody("chunk longer than its size", chunked("5\r\nhello"+smuggled+"\r\n0\r\n\r\n")),
		badBody("missing CRLF after chunk data", chunked("5\r\nhello0\r\n\r\n"+smuggled)),
		badBody("bare LF after chunk data", chunked("5\r\nhello\n0\r\n\r\n"+smuggled)),
		badBody("bare CR after chunk data", chunked("5\r\nhello\r0\r\n\r\n"+smuggled)),
		badBody("bare LF ends trailer line", chunked("0\r\nX-T: 1\n\r\n"+smuggled)),
		badBody("bare LF ends trailer section", chunked("0\r\nX-T: 1\r\n\n"+smuggled)),
		badBody("obs-fold in trailer", chunked("0\r\nX-T: 1\r\n  2\r\n\r\n"+smuggled)),
		badBody("chunk line over MaxLine", chunked("5;"+strings.Repeat("a", 5000)+"\r\nhello\r\n0\r\n\r\n")),
		badBody("Content-Length body cut short (client half-closes)", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\nabc"),
		badBody("chunked body cut short (client half-closes)", chunked("5\r\nhel")),
		badBody("body read times out", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\nabc"),
		// The engine reads urlencoded forms itself: it answers, the
		// callback never runs.
		{name: "chunked form with a bad chunk line", status: 400,
			req: "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\na=b\r\n0\r\n\r\n" + smuggled},
		{name: "form over MaxFormBody", status: 413,
			req: "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("a", 2000)},

		// Valid framing keeps the connection.
		good("chunked body", chunked("5\r\nhello\r\n0\r\n\r\n")),
		good("chunk extensions, BWS before semicolon", chunked("5 ;a=b ; c = \"d;e\"\r\nhello\r\n0;f\r\n\r\n")),
		good("upper-case hex chunk size with leading zeros", chunked("0005\r\nhello\r\n00\r\n\r\n")),
		good("harmless trailer field", chunked("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n")),
		good("Content-Length body", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"),
		good("empty line before the request line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
		good("HTTP/1.2 is served as HTTP/1.1", "GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
		good("HTTP/1.9 is served as HTTP/1.1", "GET / HTTP/1.9\r\nHost: h\r\n\r\n"),
		good("request target of 8000 bytes", "GET /"+strings.Repeat("a", 7999)+" HTTP/1.1\r\nHost: h\r\n\r\n"),
		good("header name with underscore", "GET / HTTP/1.1\r\nHost: h\r\nX_Real_IP: 6.6.6.6\r\n\r\n"),
		good("HTTP/1.0 with empty Host", "GET / HTTP/1.0\r\nHost: \r\nConnection: keep-alive\r\n\r\n"),

		// Part 2: line endings, lengths, framing names, versions.
		withLF("bare LF ends the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n"),
		withLF("bare LF ends a header line", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n"),
		withLF("bare LF hides Content-Length in another field", "POST /up HTTP/1.1\r\nHost: h\r\nDummy: x\nContent-Length: 35\r\n\r\n"+smuggled),
		withLF("bare LF ends the head", "GET / HTTP/1.1\r\nHost: h\r\n\n"),
		withLF("bare LF only", "GET / HTTP/1.1\nHost: h\n\n"),
		withLF("bare LF empty line before the request line", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
		bad("bare CR in a header line", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"),
		bad("Content-Length list of equal values", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello"),
		bad("Content-Length list without space", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000,1000\r\n\r\n"),
		bad("Content-Length repeated with the same value", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
		bad("Content-Length repeated with different values", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 35\r\n\r\nhello"+smuggled),
		bad("Content-Length with plus sign", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"),
		bad("Content-Length with Transfer-Encoding", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		bad("Transfer-Encoding chunked twice", "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
		bad("Transfer-Encoding in HTTP/1.0", "POST /up HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		bad("Transfer_Encoding", "POST /up HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n"),
		bad("transfer_encoding lower case", "POST /up HTTP/1.1\r\nHost: h\r\ntransfer_encoding: chunked\r\n\r\n0\r\n\r\n"),
		bad("Content_Length", "POST /up HTTP/1.1\r\nHost: h\r\nContent_Length: 35\r\n\r\n"+smuggled),
		bad("CONTENT_LENGTH upper case", "POST /up HTTP/1.1\r\nHost: h\r\nCONTENT_LENGTH: 35\r\n\r\n"+smuggled),
		bad("space before the colon", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length : 35\r\n\r\n"+smuggled),
		bad("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
		bad("NUL in a header value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n"),
		bad("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n"),
		bad("Host of spaces", "GET / HTTP/1.1\r\nHost:    \r\n\r\n"),
		bad("missing Host", "GET / HTTP/1.1\r\n\r\n"),
		bad("two Hosts", "GET / HTTP/1.1\r\nHost: h\r\nHost: x\r\n\r\n"),
		{name: "HTTP/2.0", req: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", status: 505},
		{name: "HTTP/0.9", req: "GET / HTTP/0.9\r\nHost: h\r\n\r\n", status: 505},
		{name: "HTTP/5.6 refused before its line ends", req: "GET / HTTP/5.6", status: 505, alone: true},
		{name: "HTTP/3 refused before its line ends", req: "GET / HTTP/3", status: 505, alone: true},
		bad("HTTP/1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n"),
		bad("HTTP/1.x garbage refused before its line ends", "GET / HTTP/1.x"),
		{name: "request target over 8 KB", req: "GET /" + strings.Repeat("a", 8200) + " HTTP/1.1\r\nHost: h\r\n\r\n", status: 414},
	}
	for i := range rows {
		r := &rows[i]
		switch {
		case strings.HasPrefix(r.name, "HTTP/1.x"):
			r.alone = true
		case strings.Contains(r.name, "half-closes"):
			r.halfClose = true
		case r.name == "body read times out":
			r.alone = true
		}
	}
	// Trailer fields that must not appear after the content (RFC 9110
	// §6.5.1): framing, routing, request modifiers, authentication,
	// response control, content format; and names that normalise to them.
	for _, f := range []string{"Content-Length: 35", "Transfer-Encoding: chunked", "Host: x",
		"Authorization: Basic YTpi", "Content-Type: text/plain", "Content-Encoding: gzip",
		"Trailer: X", "TE: trailers", "Connection: close", "Expect: 100-continue",
		"Cookie: a=b", "Range: bytes=0-1", "If-Match: *", "Cache-Control: no-cache",
		"Proxy-Authorization: Basic YTpi", "Content_Length: 35", "content-range: bytes 0-1/2"} {
		name, _, _ := strings.Cut(f, ":")
		rows = append(rows, badBody("trailer "+name, chunked("5\r\nhello\r\n0\r\n"+f+"\r\n\r\n"+smuggled)))
	}
	return rows
}

// framingServer answers every request with its path and records, per
// client port, the paths its callback saw. With readBody it reads the body
// first and answers 400 if that fails, as cmd/httpev-upload's /echo does
// (and, as /echo, it says nothing about the connection).
type framingServer struct {
	srv  *Server
	mu   sync.Mutex
	seen map[string][]string
	// onPoller is the most connections seen resident in or parked on the
	// Linux poller after a row's idle pause: evidence the poller-on modes
	// did use it and the others did not.
	onPoller int
}

func (f *framingServer) callback(readBody bool) func(*CGI) {
	return func(c *CGI) {
		f.mu.Lock()
		f.seen[c.Env("REMOTE_PORT")] = append(f.seen[c.Env("REMOTE_PORT")], c.Path())
		f.mu.Unlock()
		// The callback asks for keep-alive: after a framing error the
		// engine must answer Connection: close whatever the callback set.
		keep := http.Header{"Connection": {"keep-alive"}}
		if readBody {
			if _, err := io.Copy(io.Discard, c.Body()); err != nil {
				c.SetStatus(400)
				c.Header(keep)
				c.Print("bad body\n")
				return
			}
		}
		c.Header(keep)
		c.Print("path ", c.Path(), "\n")
	}
}

// forget drops what an earlier connection from the same client port saw.
func (f *framingServer) forget(port string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.seen, port)
}

func (f *framingServer) paths(port string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[port]
}

// framingModes lists the ways a request reaches its callback.
type framingMode struct {
	name      string
	threading bool
	noPark    bool
	afterIdle bool // the request follows an answered one and an idle pause
	readBody  bool
}

func framingModes() []framingMode {
	var modes []framingMode
	for _, threading := range []bool{false, true} {
		for _, noPark := range []bool{false, true} {
			for _, afterIdle := range []bool{false, true} {
				for _, readBody := range []bool{true, false} {
					modes = append(modes, framingMode{
						name: fmt.Sprintf("threading=%v/nopark=%v/afteridle=%v/readbody=%v",
							threading, noPark, afterIdle, readBody),
						threading: threading, noPark: noPark, afterIdle: afterIdle, readBody: readBody,
					})
				}
			}
		}
	}
	return modes
}

// framingTimeout is the servers' inactivity Timeout: the "body read times
// out" row waits for it, every other row must be answered well before it.
const framingTimeout = 700 * time.Millisecond

func TestFramingRawRequests(t *testing.T) {
	rows := framingRows()
	// The rows run concurrently, bounded: -parallel (GOMAXPROCS) would run
	// two at a time, and most of a row's time is spent waiting.
	sem := make(chan struct{}, 32)
	var modes sync.WaitGroup
	for _, m := range framingModes() {
		modes.Go(func() {
			t.Run(m.name, func(t *testing.T) {
				fs := &framingServer{seen: map[string][]string{}}
				srv, l, _ := testServer(t, Options{NoIdlePark: m.noPark, MaxFormBody: 1000},
					ListenOptions{Threading: m.threading, Timeout: framingTimeout}, fs.callback(m.readBody))
				fs.srv = srv
				var wg sync.WaitGroup
				for _, row := range rows {
					wg.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						t.Run(row.name, func(t *testing.T) { checkFramingRow(t, l, fs, m, row) })
					})
				}
				wg.Wait()
				t.Logf("connections on the poller after an idle pause: up to %d", fs.onPoller)
				switch {
				case !m.afterIdle:
				case m.noPark || runtime.GOOS != "linux":
					assert.Zero(t, fs.onPoller, "no connection on the poller")
				default:
					assert.Positive(t, fs.onPoller, "idle connections on the poller")
				}
			})
		})
	}
	modes.Wait()
}

// checkFramingRow sends one row on a fresh connection and checks the
// answer and the connection's fate.
func checkFramingRow(t *testing.T, l *PortListener, fs *framingServer, m framingMode, row framingRow) {
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	port := strconv.Itoa(nc.LocalAddr().(*net.TCPAddr).Port)
	fs.forget(port) // ports are reused; the old connection is gone
	var before []string
	if m.afterIdle {
		_, err = io.WriteString(nc, "GET /warm HTTP/1.1\r\nHost: h\r\n\r\n")
		require.NoError(t, err)
		resp, _ := readResponse(t, br, "GET")
		require.Equal(t, 200, resp.StatusCode)
		time.Sleep(150 * time.Millisecond) // past the poller's park delay
		before = []string{"/warm"}
		st := fs.srv.Stats()
		fs.mu.Lock()
		fs.onPoller = max(fs.onPoller, st.ConnsResident+st.ConnsParked)
		fs.mu.Unlock()
	}

	_, err = io.WriteString(nc, row.req)
	require.NoError(t, err)
	switch {
	case row.halfClose:
		require.NoError(t, nc.(*net.TCPConn).CloseWrite())
	case !row.alone:
		_, _ = io.WriteString(nc, nextReq) // may fail once the server closed
	}

	want := row.status
	if row.bodyStatus {
		want = 200
		if m.readBody {
			want = 400
		}
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	require.NoError(t, err, "no answer")
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, want, resp.StatusCode, "status")
	// A row the server answered only at its Timeout would get 408, so the
	// status also shows that "alone" rows were refused on arrival.

	if row.keep {
		assert.False(t, resp.Close, "connection kept")
		resp2, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		require.NoError(t, err, "the next request is answered")
		b, _ := io.ReadAll(resp2.Body)
		assert.Equal(t, "path /next\n", string(b))
		_ = nc.Close()
	} else {
		assert.True(t, resp.Close, "the answer says Connection: close")
		rest, err := io.ReadAll(br)
		assert.NoError(t, err, "the server closes the connection (EOF, not a timeout)")
		assert.Empty(t, string(rest), "nothing follows the answer")
	}
	paths := fs.paths(port)
	for _, p := range paths {
		assert.NotEqual(t, "/smuggled", p, "a hidden request was run")
	}
	switch {
	case row.keep:
		assert.Equal(t, append(before, "/up|/", "/next"), normalisePaths(paths, len(before)), "callbacks run")
	case row.callback:
		assert.Equal(t, append(before, "/up|/"), normalisePaths(paths, len(before)), "callbacks run")
	default:
		assert.Equal(t, before, nilIfEmpty(paths), "no callback for a refused request")
	}
}

// normalisePaths replaces the row's own path (whatever its target) with
// one marker, so rows need not say which path they use.
func normalisePaths(paths []string, skip int) []string {
	out := append([]string(nil), paths...)
	if len(out) > skip && out[skip] != "/next" && out[skip] != "/smuggled" {
		out[skip] = "/up|/"
	}
	return nilIfEmpty(out)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestFramingSmuggledThroughServeHandler checks the net/http adapter: a
// handler that reads r.Body, gets the framing error and answers 400, and
// one that never reads it and answers 200, still finish the connection.
func TestFramingSmuggledThroughServeHandler(t *testing.T) {
	for _, threading := range []bool{false, true} {
		for _, read := range []bool{true, false} {
			t.Run(fmt.Sprintf("threading=%v/read=%v", threading, read), func(t *testing.T) {
				var mu sync.Mutex
				var paths []string
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					paths = append(paths, r.URL.Path)
					mu.Unlock()
					if !read {
						fmt.Fprintln(w, "ok")
						return
					}
					if _, err := io.ReadAll(r.Body); err != nil {
						http.Error(w, "bad body", http.StatusBadRequest)
						return
					}
					fmt.Fprintln(w, "ok")
				})
				_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, ServeHandler(h))
				for _, body := range []string{"23 \r\n" + smuggled + "\r\n0\r\n\r\n", "5\r\nhello" + smuggled + "\r\n0\r\n\r\n"} {
					nc, br := rawConn(t, l)
					_, err := io.WriteString(nc, chunked(body)+nextReq)
					require.NoError(t, err)
					resp, _ := readResponse(t, br, "POST")
					if read {
						assert.Equal(t, 400, resp.StatusCode)
					} else {
						assert.Equal(t, 200, resp.StatusCode)
					}
					assert.True(t, resp.Close)
					expectClosed(t, br)
				}
				mu.Lock()
				assert.Equal(t, []string{"/up", "/up"}, paths)
				mu.Unlock()
			})
		}
	}
}

// TestFramingFlushedResponseThenBadBody: a callback that sends its head
// before reading the body cannot take the head back, but the connection
// still ends after the response.
func TestFramingFlushedResponseThenBadBody(t *testing.T) {
	calls := make(chan string, 4)
	_, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		calls <- c.Path()
		c.Header(nil)
		c.Print("started\n")
		c.Flush()
		_, err := io.Copy(io.Discard, c.Body())
		c.Print("body failed: ", err != nil, "\n")
	})
	nc, br := rawConn(t, l)
	_, err := io.WriteString(nc, chunked("23 \r\n"+smuggled+"\r\n0\r\n\r\n")+nextReq)
	require.NoError(t, err)
	resp, body := readResponse(t, br, "POST")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "started\nbody failed: true\n", body)
	expectClosed(t, br)
	assert.Equal(t, "/up", <-calls)
	assert.Empty(t, calls, "no callback after the bad body")
}
