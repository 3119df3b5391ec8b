package httpev

import (
	"io"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleWaitSplitHead (ListenOptions.Timeout off): after an idle wait
// on a goroutine, bounded by the grace's deadline, found the first bytes
// of a request, the rest of its head is waited for with the idle timeout,
// not with that grace (which would close the connection after about
// 100 ms). Several requests first, so that the waits follow one another
// as on a busy connection.
func TestIdleWaitSplitHead(t *testing.T) {
	leakCheck(t)
	const idle = 800 * time.Millisecond
	grace := poller.DefaultTuning().Grace
	require.Less(t, 4*grace, idle, "the test tells the two apart")
	// No Timeout: no head read sets a deadline of its own, and the idle
	// wait's is the only bound.
	srv, l, _ := testServer(t, Options{IdleTimeout: idle}, ListenOptions{Timeout: -1}, parkEcho)
	c, br := rawConn(t, l)
	for i := range 3 {
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
