//go:build unix

package httpev

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLimitsAnswered drives limits the other suites reach only through the
// parsers' own tests: each request is answered with its status, OnError
// fires where a request object exists, and no temp file stays behind.
func TestLimitsAnswered(t *testing.T) {
	ct, mp := multipartBody(t, nil, []testFile{{"f", "a.bin", make([]byte, 300<<10)}})
	var chunked strings.Builder
	for off := 0; off < len(mp); off += 16 << 10 {
		piece := mp[off:min(off+16<<10, len(mp))]
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", len(piece), piece)
	}
	chunked.WriteString("0\r\n\r\n")
	manyFields := strings.Repeat("a=1&", 20)
	cases := []struct {
		name    string
		opts    Options
		head    string
		body    string
		status  int
		onError bool
	}{
		{"whole head over MaxHeaderBytes", Options{MaxHeaderBytes: 16 << 10},
			"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 20) + "\r\n", "", 431, false},
		{"query field name over MaxFieldName", Options{MaxFieldName: 64},
			"GET /?" + strings.Repeat("n", 100) + "=1 HTTP/1.1\r\nHost: x\r\n\r\n", "", 414, true},
		{"urlencoded body over MaxFormFields", Options{MaxFormFields: 10},
			fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", len(manyFields)),
			manyFields, 413, true},
		{"chunked upload over MaxRequestBody while streaming", Options{MaxRequestBody: 100 << 10},
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + ct + "\r\nTransfer-Encoding: chunked\r\n\r\n", chunked.String(), 413, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			tc.opts.TmpPath = tmp
			var rec errRecorder
			_, l, _ := testServer(t, tc.opts, ListenOptions{OnError: rec.onError}, func(c *CGI) { c.Print("served") })
			status, _ := postRaw(t, l.Addr().String(), tc.head, []byte(tc.body))
			assert.Equal(t, tc.status, status)
			if tc.onError {
				assert.ErrorIs(t, rec.waitErr(t), ErrTooLarge)
			} else {
				time.Sleep(50 * time.Millisecond)
				assert.Empty(t, rec.get(), "no request object, no OnError")
			}
			assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
		})
	}
}

// TestTimeoutMidBodyFiresOnError: a body that stops arriving gets 408,
// OnError with the timeout, and an upload's temp file is removed.
func TestTimeoutMidBodyFiresOnError(t *testing.T) {
	ct, mp := multipartBody(t, nil, []testFile{{"f", "a.bin", make([]byte, 200<<10)}})
	for _, kind := range []string{"form", "upload"} {
		t.Run(kind, func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			var rec errRecorder
			_, l, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{Timeout: 300 * time.Millisecond, OnError: rec.onError},
				func(c *CGI) { c.Print("served") })
			head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
			body := []byte("a=" + url.QueryEscape("half"))
			if kind == "upload" {
				head, body = multipartHead(ct, len(mp)), mp[:len(mp)/2]
			}
			status, _ := postRaw(t, l.Addr().String(), head, body)
			assert.Equal(t, 408, status)
			assert.ErrorIs(t, rec.waitErr(t), errTimeout)
			assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
		})
	}
}

// TestTempFilesRemovedOnPanicAndClose: the temp files of an upload go when
// the request callback panics (500) and when Close cuts a kept request.
func TestTempFilesRemovedOnPanicAndClose(t *testing.T) {
	ct, mp := multipartBody(t, nil, []testFile{{"f", "a.bin", make([]byte, 100<<10)}})
	t.Run("callback panics", func(t *testing.T) {
		leakCheck(t)
		tmp := t.TempDir()
		_, l, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, func(c *CGI) {
			assert.Len(t, c.Files(), 1)
			panic("boom")
		})
		status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(mp)), mp)
		assert.Equal(t, 500, status)
		assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
	})
	t.Run("server closed", func(t *testing.T) {
		leakCheck(t)
		tmp := t.TempDir()
		kept := make(chan struct{})
		srv, l, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{Threading: true}, func(c *CGI) {
			c.Keep() // answered never: Close cuts it
			close(kept)
		})
		done := make(chan struct{})
		go func() { defer close(done); postRaw(t, l.Addr().String(), multipartHead(ct, len(mp)), mp) }()
		<-kept
		require.Len(t, tmpEntries(t, tmp), 1, "the upload is on disk while the request is kept")
		require.NoError(t, srv.Close())
		<-done
		assert.Empty(t, tmpEntries(t, tmp))
	})
}

// TestCleanupOnDemand: Server.Cleanup empties TmpPath (files and
// directories left by an earlier process) while the server runs on.
func TestCleanupOnDemand(t *testing.T) {
	tmp := t.TempDir()
	srv, _, base := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, func(c *CGI) { c.Print("ok") })
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "httpev-leftover"), []byte("x"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "dir", "sub"), 0o700))
	require.NoError(t, srv.Cleanup())
	assert.Empty(t, tmpEntries(t, tmp))
	_, body := get(t, base)
	assert.Equal(t, "ok", body, "the server serves on")
}

// TestNegativeTimeoutDisables: a negative Timeout means no deadline, not a
// deadline in the past (now plus a negative duration): a head and a body
// that arrive in pieces are still received.
func TestNegativeTimeoutDisables(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{Timeout: -1}, func(c *CGI) { c.Print(c.Param("a")) })
	conn, br := rawConn(t, l)
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(100 * time.Millisecond)
	io.WriteString(conn, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na")
	time.Sleep(100 * time.Millisecond)
	io.WriteString(conn, "=1")
	resp, body := readResponse(t, br, "POST")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "1", body)
}

// TestHeadLargerThanReadBuffer: a valid head larger than the read buffer
// (here 20 headers of 3 KB, 60 KB in all, against the default 8 KB buffer)
// is read by growing the buffer, on a connection's first request and on a
// later one (on Linux with Threading on, one the poller serves), arriving
// whole or in pieces.
func TestHeadLargerThanReadBuffer(t *testing.T) {
	value := strings.Repeat("v", 3000)
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "X-Big-%d: %s\r\n", i, value)
	}
	bigHeaders := b.String()
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			leakCheck(t)
			_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				c.Printf("%d %d", len(c.Env("HTTP_X_BIG_0")), len(c.Env("HTTP_X_BIG_19")))
			})
			conn, br := rawConn(t, l)
			for i, pieces := range []int{1, 1, 7} {
				req := "GET /?n=" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: x\r\n" + bigHeaders + "\r\n"
				step := (len(req) + pieces - 1) / pieces
				for off := 0; off < len(req); off += step {
					_, err := io.WriteString(conn, req[off:min(off+step, len(req))])
					require.NoError(t, err)
					if pieces > 1 {
						time.Sleep(5 * time.Millisecond)
					}
				}
				resp, body := readResponse(t, br, "GET")
				require.Equal(t, 200, resp.StatusCode, "request %d", i)
				assert.Equal(t, "3000 3000", body, "request %d", i)
			}
		})
	}
}
