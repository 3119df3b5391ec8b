package httpev

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeHandlerRemoteAddr: r.RemoteAddr is the peer on every request of
// a keep-alive connection (formatted once per connection), and with
// Options.Backend it is each request's own X-Real-IP, never one cached
// from an earlier request on the connection.
func TestServeHandlerRemoteAddr(t *testing.T) {
	handler := ServeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	}))
	for _, backend := range []bool{false, true} {
		for _, threading := range []bool{false, true} {
			t.Run(fmt.Sprintf("backend=%v/threading=%v", backend, threading), func(t *testing.T) {
				_, l, _ := testServer(t, Options{Backend: backend}, ListenOptions{Threading: threading}, handler)
				c, br := rawConn(t, l)
				peer := c.LocalAddr().String()
				for _, ip := range []string{"192.0.2.1", "2001:db8::7", "192.0.2.2"} {
					_, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: %s\r\n\r\n", ip)
					require.NoError(t, err)
					resp, body := readResponse(t, br, "GET")
					require.Equal(t, 200, resp.StatusCode)
					want := peer
					if backend {
						_, port, _ := net.SplitHostPort(peer)
						want = net.JoinHostPort(ip, port)
					}
					assert.Equal(t, want, body, "X-Real-IP %s", ip)
				}
			})
		}
	}
}
