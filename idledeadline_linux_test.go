package httpev

import (
	"io"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleWaitOwedDeadline (ListenOptions.Timeout off): an idle wait on a goroutine keeps the grace's
// deadline of the wait before it when that one is close enough, and leaves
// the idle timeout's deadline owing to the next read. A request whose head
// comes in two pieces must then wait for the rest with the idle timeout,
// not with the grace of an earlier wait (which would close the connection
// after about 100 ms).
func TestIdleWaitOwedDeadline(t *testing.T) {
	leakCheck(t)
	const idle = 800 * time.Millisecond
	grace := poller.DefaultTuning().Grace
	require.Less(t, 4*grace, idle, "the test tells the two apart")
	// No Timeout: no head read sets a deadline of its own, and the idle
	// wait's is the only bound.
	srv, l, _ := testServer(t, Options{IdleTimeout: idle}, ListenOptions{Timeout: -1}, parkEcho)
	c, br := rawConn(t, l)
	for i := range 3 { // the later waits find the first one's deadline close enough
		io.WriteString(c, parkGet(i))
		expectOK(t, br, i)
	}
	start := time.Now()
	_, err := io.WriteString(c, "GET /?n=3 HTTP/1.1\r\nHo")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(br)
	require.NoError(t, err, "the server closes the connection")
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, idle-grace, "the rest of the head is waited for with the idle timeout, not a grace's deadline")
	requireNoConns(t, srv, 5*time.Second)
}
