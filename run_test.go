package httpev

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunGraceRunsOut: a request still running when the grace ends is cut
// by Close, and Run reports the expired grace.
func TestRunGraceRunsOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		c.Keep()
		go func() { <-release; c.Close() }()
	})
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Eventually(t, func() bool { return serverConns(srv) == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := srv.Run(ctx, 100*time.Millisecond)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	rest, err := io.ReadAll(br)
	require.NoError(t, err, "closed, not left hanging")
	assert.Empty(t, rest, "cut before any byte of a response")
	assert.Zero(t, serverConns(srv))
}
