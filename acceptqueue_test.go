package httpev

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingListener is a net.Listener of the user's own, whose Accept may do
// work of its own: the drain must go through it.
type countingListener struct {
	net.Listener
	accepts atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	l.accepts.Add(1)
	return l.Listener.Accept()
}

func (l *countingListener) SetDeadline(t time.Time) error {
	return l.Listener.(*net.TCPListener).SetDeadline(t)
}

// TestTakeQueued: the graceful drain's accept takes every connection the
// kernel has queued, in order, each with what its client sent, and then
// reports the queue empty rather than waiting; a deadline already passed
// on the socket (drainAccepts sets one to wake the accept loop) does not
// stop it; a listener of the user's own is accepted from through its own
// Accept.
func TestTakeQueued(t *testing.T) {
	check := func(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) {
		const n = 4
		for i := range n {
			c, err := dial()
			require.NoError(t, err)
			defer c.Close()
			_, err = fmt.Fprintf(c, "client %d", i)
			require.NoError(t, err)
		}
		for i := range n {
			nc, err := takeQueued(ln)
			require.NoError(t, err)
			require.NotNil(t, nc, "connection %d of %d not taken", i, n)
			require.NoError(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
			b := make([]byte, 64)
			m, err := nc.Read(b)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("client %d", i), string(b[:m]))
			require.NoError(t, nc.Close())
		}
		nc, err := takeQueued(ln)
		assert.NoError(t, err)
		assert.Nil(t, nc, "the queue is empty")
	}
	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		require.NoError(t, ln.(*net.TCPListener).SetDeadline(time.Now().Add(-time.Second)))
		check(t, ln, func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) })
	})
	t.Run("unix", func(t *testing.T) {
		ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
		if err != nil {
			t.Skipf("no unix sockets here: %v", err)
		}
		defer ln.Close()
		check(t, ln, func() (net.Conn, error) { return net.Dial("unix", ln.Addr().String()) })
	})
	t.Run("closed", func(t *testing.T) {
		// Close cut the drain: the error says so, and drainQueue ends
		// without logging it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		require.NoError(t, ln.Close())
		nc, err := takeQueued(ln)
		assert.Nil(t, nc)
		assert.ErrorIs(t, err, net.ErrClosed)
	})
	t.Run("no deadline", func(t *testing.T) {
		// A listener of the user's own without SetDeadline cannot be
		// asked without waiting: the drain takes nothing from it.
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer tl.Close()
		c, err := net.Dial("tcp", tl.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		nc, err := takeQueued(struct{ net.Listener }{tl})
		assert.NoError(t, err)
		assert.Nil(t, nc, "nothing taken through an Accept that would wait")
	})
	t.Run("own listener", func(t *testing.T) {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer tl.Close()
		ln := &countingListener{Listener: tl}
		check(t, ln, func() (net.Conn, error) { return net.Dial("tcp", tl.Addr().String()) })
		assert.Equal(t, int32(5), ln.accepts.Load(), "four connections and the empty queue, each through its Accept")
	})
}

// failingListener is a listener of the user's own whose Accept fails with
// an error that is neither a timeout nor a close.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept refused") }

func (failingListener) SetDeadline(time.Time) error { return nil }

// TestDrainQueueLog: a drain that Close cut (the listener closed
// meanwhile) ends quietly; any other accept error ends it with a warning
// naming the error, and neither takes a MaxConns slot with it.
func TestDrainQueueLog(t *testing.T) {
	var logged lockedBuffer
	// Two slots: the accept loop holds one while it waits in Accept, the
	// drain takes the other (without one it would return at once).
	srv, l, _ := testServer(t, Options{Logger: logged.logger(), MaxConns: 2}, ListenOptions{}, func(*CGI) {})

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	l.drainQueue(closed)
	assert.NotContains(t, logged.String(), "draining the accept queue", "a closed listener is Close's doing, not a failure")

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer tl.Close()
	l.drainQueue(failingListener{tl})
	assert.Contains(t, logged.String(), "draining the accept queue")
	assert.Contains(t, logged.String(), "accept refused")

	if assert.True(t, srv.connSem.TryAcquire(1), "the drain gave its MaxConns slot back") {
		srv.connSem.Release(1)
	}
}
