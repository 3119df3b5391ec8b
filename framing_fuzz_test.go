package httpev

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev/internal/memconn"
)

// FuzzConnectionFraming feeds arbitrary bytes to one server connection (in
// memory, both threading modes) and checks the rule SECURITY.md states:
// once the server answers with an error status, that answer says
// Connection: close and nothing follows it, so no input can get a request
// answered after an error on the same connection. The callback reads the
// body and answers 200, or 400 when reading it failed (as an application
// would), always with an empty body so every answer parses alike, HEAD
// included. The parser's own fuzz targets (internal/http1) check the head
// and chunk parsers against net/http; this one checks what the connection
// does with their errors.
func FuzzConnectionFraming(f *testing.F) {
	for _, row := range framingRows() {
		f.Add([]byte(row.req + nextReq))
	}
	f.Add([]byte(nextReq + nextReq))
	f.Add([]byte("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" + nextReq))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" + nextReq))

	srv, err := New(Options{TmpPath: f.TempDir(), MaxFormBody: 1000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(f, err)
	f.Cleanup(func() { _ = srv.Close() })
	var lns [2]*memconn.Listener
	for i, threading := range []bool{false, true} {
		lns[i] = memconn.NewListener(memconn.Addr([]string{"fuzz-serial", "fuzz-threading"}[i]))
		_, err := srv.Listen(lns[i], func(c *CGI) {
			if _, err := io.Copy(io.Discard, c.Body()); err != nil {
				c.SetStatus(400)
			}
			c.Header(nil)
		}, ListenOptions{Threading: threading, Timeout: 300 * time.Millisecond})
		require.NoError(f, err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := memconn.Pipe(memconn.Addr("client:1"), memconn.Addr("server:80"), 1<<20)
		defer client.Close()
		require.NoError(t, lns[len(data)%2].Deliver(context.Background(), server))
		_ = client.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = client.Write(data)
		_ = client.CloseWrite()
		out, err := io.ReadAll(client)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Skip("no end of output in 10 s (busy machine)")
		}
		checkNoAnswerAfterError(t, out)
	})
}

// checkNoAnswerAfterError parses the answers in out and fails if one
// follows an error answer, or an error answer does not say close.
func checkNoAnswerAfterError(t *testing.T, out []byte) {
	br := bufio.NewReader(bytes.NewReader(out))
	for n := 0; ; n++ {
		if _, err := br.Peek(1); err == io.EOF {
			return
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		require.NoError(t, err, "answer %d does not parse: %q", n, out)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err, "answer %d body: %q", n, out)
		if resp.StatusCode < 400 {
			continue
		}
		require.True(t, resp.Close, "error answer %d without Connection: close: %q", n, out)
		rest, _ := io.ReadAll(br)
		require.Empty(t, rest, "bytes after error answer %d: %q", n, out)
		return
	}
}
