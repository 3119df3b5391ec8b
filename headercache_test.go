package httpev

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeaderContentTypeShared: a Content-Type-only Header is answered from
// the shared cache, right for every value, and the cache stops growing at
// maxCachedTypes while later values still go out as given.
func TestHeaderContentTypeShared(t *testing.T) {
	srv, _, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		c.Header(http.Header{"Content-Type": {c.Param("t")}})
		c.WriteString("x")
	})
	for i := range maxCachedTypes + 10 {
		want := fmt.Sprintf("application/x-test-%d", i)
		res, err := http.Get(base + "/?t=" + want)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, want, res.Header.Get("Content-Type"))
	}
	assert.Equal(t, int32(maxCachedTypes), srv.ctypes.n.Load())
	// A cached value again: the shared map, unchanged by its use.
	res, err := http.Get(base + "/?t=application/x-test-3")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "application/x-test-3", res.Header.Get("Content-Type"))
	ct, ok := srv.ctypes.contentType("application/x-test-3")
	require.True(t, ok)
	assert.Equal(t, http.Header{"Content-Type": {"application/x-test-3"}}, ct.h)
	assert.Equal(t, "Content-Type: application/x-test-3\r\n", string(ct.line))
}

// TestHeaderContentTypeSharedLine: the written line of a shared header is
// the one the map gave before it was cached: one Content-Type line with
// the value, none at all for an empty value, CR and LF dropped.
func TestHeaderContentTypeSharedLine(t *testing.T) {
	srv, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Header(http.Header{"Content-Type": {c.Env("HTTP_X_T")}})
		c.WriteString("x")
	})
	for _, sent := range []string{"text/plain", ""} {
		nc, br := rawConn(t, l)
		_, err := fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nX-T: %s\r\n\r\n", sent)
		require.NoError(t, err)
		res, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		res.Body.Close()
		if sent == "" {
			assert.NotContains(t, res.Header, "Content-Type", "no Content-Type for an empty value")
		} else {
			assert.Equal(t, []string{sent}, res.Header.Values("Content-Type"))
		}
	}
	ct, ok := srv.ctypes.contentType("a\r\nX-Evil: 1")
	require.True(t, ok)
	assert.Equal(t, "Content-Type: aX-Evil: 1\r\n", string(ct.line), "no response splitting through the cached line")
}
