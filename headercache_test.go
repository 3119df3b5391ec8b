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
	h, ok := srv.ctypes.contentType("application/x-test-3")
	require.True(t, ok)
	assert.Equal(t, http.Header{"Content-Type": {"application/x-test-3"}}, h)
}
