package rawfd

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/httpev/httpev/internal/rawfd."))
}

// fdPair connects a client to a server-side Conn over loopback; both
// close when the test ends.
func fdPair(t *testing.T, toGo func(int)) (net.Conn, *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	sc, err := ln.Accept()
	require.NoError(t, err)
	fc, err := Detach(sc.(*net.TCPConn))
	require.NoError(t, err)
	fc.SetHooks(Hooks{Leaving: toGo})
	t.Cleanup(func() { fc.Close() })
	return client, fc
}

// TestFdConn drives Conn directly over a TCP pair: raw reads and writes,
// a read that has to wait (through Go), deadlines, CloseWrite, Close.
func TestFdConn(t *testing.T) {
	var gone atomic.Int32
	client, fc := fdPair(t, func(int) { gone.Add(1) })
	assert.Equal(t, client.LocalAddr().String(), fc.RemoteAddr().String())

	_, err := client.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	time.Sleep(20 * time.Millisecond)
	n, err := fc.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	assert.Zero(t, gone.Load(), "data was there: read raw")
	_, err = fc.Write([]byte("pong"))
	require.NoError(t, err)
	n, err = client.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf[:n]))

	// Nothing to read: the read waits through Go, honouring the deadline.
	require.NoError(t, fc.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = fc.Read(buf)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.EqualValues(t, 1, gone.Load(), "the descriptor went to Go once")
	require.NoError(t, fc.SetReadDeadline(time.Time{}))
	go func() { time.Sleep(20 * time.Millisecond); client.Write([]byte("late")) }()
	n, err = fc.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "late", string(buf[:n]))

	// Back out of Go: raw reads again. With nothing to read, a past
	// deadline (how drain wakes a waiting read) ends the read at once.
	require.GreaterOrEqual(t, fc.FD(), 0)
	_, err = client.Write([]byte("raw"))
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	n, err = fc.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "raw", string(buf[:n]))
	assert.EqualValues(t, 1, gone.Load(), "read raw")
	require.NoError(t, fc.SetReadDeadline(time.Unix(1, 0)))
	_, err = fc.Read(buf)
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	require.NoError(t, fc.SetReadDeadline(time.Time{}))

	require.NoError(t, fc.CloseWrite())
	_, err = client.Read(buf)
	assert.ErrorIs(t, err, io.EOF, "the client sees the server's end")
	require.NoError(t, fc.Close())
	_, err = fc.Read(buf)
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, fc.Close(), net.ErrClosed)
}

// TestFdConnCloseWhileWaiting: Close from another goroutine ends a read
// waiting through Go.
func TestFdConnCloseWhileWaiting(t *testing.T) {
	_, fc := fdPair(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := fc.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, fc.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting read")
	}
}

// TestRawConnThroughGoAllocates: once the connection is Go's, its
// SyscallConn's Read and Control reach Go's descriptor without an
// allocation (Go's own SyscallConn makes a new object on every call, and
// an idle wait on a goroutine used to pay for one per request).
func TestRawConnThroughGoAllocates(t *testing.T) {
	client, fc := fdPair(t, nil)
	_, err := fc.GoConn()
	require.NoError(t, err)
	_, err = client.Write([]byte("x"))
	require.NoError(t, err)
	rc, err := fc.SyscallConn()
	require.NoError(t, err)
	var seen atomic.Int32
	read := func(uintptr) bool { seen.Add(1); return true }
	control := func(uintptr) { seen.Add(1) }
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = rc.Read(read) }), "Read")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = rc.Control(control) }), "Control")
	assert.Positive(t, seen.Load())
	require.NoError(t, fc.Close())
	assert.Error(t, rc.Control(control), "closed")
}
