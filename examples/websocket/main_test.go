package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWebSocket talks to both endpoints with coder/websocket's client, in
// both threading modes, over real loopback sockets.
func TestWebSocket(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			s, err := start("127.0.0.1:0", t.TempDir(), threading)
			require.NoError(t, err)
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					_ = s.stop(5 * time.Second)
				}
			})
			base := "ws://" + s.addr.String()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			t.Run("echo through ServeHandler", func(t *testing.T) {
				c := dial(ctx, t, base+"/ws/echo")
				defer c.CloseNow()
				big := make([]byte, 512<<10)
				_, _ = rand.Read(big)
				msgs := []message{{websocket.MessageText, []byte("hello")}, {websocket.MessageBinary, big}}
				for i := range 100 {
					msgs = append(msgs, message{websocket.MessageText, fmt.Appendf(nil, "message %d", i)})
				}
				for _, m := range msgs {
					require.NoError(t, c.Write(ctx, m.typ, m.data))
					typ, data, err := c.Read(ctx)
					require.NoError(t, err)
					assert.Equal(t, m.typ, typ)
					assert.True(t, bytes.Equal(m.data, data), "echo of a %d-byte message", len(m.data))
				}
				require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
			})

			t.Run("chat through GiveUpHandle", func(t *testing.T) {
				var cs []*websocket.Conn
				for range 3 {
					c := dial(ctx, t, base+"/ws/chat")
					defer c.CloseNow()
					cs = append(cs, c)
				}
				require.Eventually(t, func() bool { return s.ws.count(true) == 3 }, 5*time.Second, time.Millisecond)
				require.NoError(t, cs[0].Write(ctx, websocket.MessageText, []byte("hi from 0")))
				for i, c := range cs {
					_, data, err := c.Read(ctx)
					require.NoError(t, err, "client %d", i)
					assert.Equal(t, "hi from 0", string(data), "client %d", i)
				}
				require.NoError(t, cs[1].Close(websocket.StatusNormalClosure, "leaving"))
				require.Eventually(t, func() bool { return s.ws.count(true) == 2 }, 5*time.Second, time.Millisecond)
				require.NoError(t, cs[2].Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}))
				for _, i := range []int{0, 2} {
					typ, data, err := cs[i].Read(ctx)
					require.NoError(t, err, "client %d", i)
					assert.Equal(t, websocket.MessageBinary, typ)
					assert.Equal(t, []byte{1, 2, 3}, data)
				}
			})

			t.Run("plain requests are refused, the connection stays usable", func(t *testing.T) {
				client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
				defer client.CloseIdleConnections()
				for _, path := range []string{"/ws/echo", "/ws/chat", "/"} {
					resp, err := client.Get("http://" + s.addr.String() + path)
					require.NoError(t, err)
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if path == "/" {
						assert.Equal(t, http.StatusOK, resp.StatusCode)
						assert.Contains(t, string(body), "new WebSocket")
						continue
					}
					assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode, "GET %s without a handshake: %s", path, body)
					assert.Equal(t, "websocket", resp.Header.Get("Upgrade"))
				}
				c := dial(ctx, t, base+"/ws/chat") // and WebSocket still works
				c.CloseNow()
			})

			t.Run("stopping closes every socket with going away", func(t *testing.T) {
				echo, chat := dial(ctx, t, base+"/ws/echo"), dial(ctx, t, base+"/ws/chat")
				defer echo.CloseNow()
				defer chat.CloseNow()
				require.Eventually(t, func() bool { return s.ws.count(false) >= 2 }, 5*time.Second, time.Millisecond)
				errs := make(chan error, 2)
				for _, c := range []*websocket.Conn{echo, chat} {
					go func() {
						_, _, err := c.Read(ctx) // answers the server's close frame
						errs <- err
					}()
				}
				require.NoError(t, s.stop(5*time.Second))
				stopped = true
				for range 2 {
					assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(<-errs))
				}
				assert.Zero(t, s.ws.count(false), "stop waited for every WebSocket goroutine")
			})
		})
	}
}

func dial(ctx context.Context, t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	c.SetReadLimit(maxMessage)
	return c
}
