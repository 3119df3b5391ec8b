package httpev

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A header spelt with '_' must not reach or extend the HTTP_* variable of
// its '-' spelling (a proxy's X-Real-IP): it has no CGI name at all, and is
// read through RequestHeader.
func TestCGIEnvLeavesOutUnderscoreHeaders(t *testing.T) {
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		envs := c.Envs()
		_ = json.NewEncoder(c).Encode(map[string]any{
			"env":     c.Env("HTTP_X_REAL_IP"),
			"custom":  c.Env("HTTP_X_CUSTOM"),
			"inEnvs":  envs["HTTP_X_REAL_IP"],
			"raw":     c.RequestHeader()["X_real_ip"],
			"foo":     envs["HTTP_FOO"],
			"cookie":  c.Cookie("a"),
			"hasUndr": envs["HTTP_X_CUSTOM"] != "",
		})
	})
	nc, br := rawConn(t, l)
	_, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: h\r\nX_Real_IP: 6.6.6.6\r\nX-Real-IP: 10.1.1.1\r\n"+
		"x_custom: 1\r\nFoo: bar\r\nCookie: a=b\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	resp, body := readResponse(t, br, "GET")
	require.Equal(t, 200, resp.StatusCode)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, "10.1.1.1", got["env"], "HTTP_X_REAL_IP is the proxy's header alone")
	assert.Equal(t, "10.1.1.1", got["inEnvs"])
	assert.Equal(t, "", got["custom"], "x_custom has no CGI name")
	assert.Equal(t, false, got["hasUndr"])
	assert.Equal(t, []any{"6.6.6.6"}, got["raw"], "RequestHeader keeps it")
	assert.Equal(t, "bar", got["foo"])
	assert.Equal(t, "b", got["cookie"])
}
