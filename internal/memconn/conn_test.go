package memconn

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pair(size int) (*Conn, *Conn) {
	return Pipe(Addr("a"), Addr("b"), size)
}

func TestPipeAddresses(t *testing.T) {
	a, b := pair(0)
	assert.Equal(t, "a", a.LocalAddr().String())
	assert.Equal(t, "b", a.RemoteAddr().String())
	assert.Equal(t, "b", b.LocalAddr().String())
	assert.Equal(t, "memory", b.RemoteAddr().Network())
}

// TestPipeFullDuplex streams a megabyte each way at once through small
// buffers, in writes and reads of odd sizes.
func TestPipeFullDuplex(t *testing.T) {
	for _, size := range []int{1, 7, 1000, 0} {
		a, b := pair(size)
		want := make([]byte, 1<<20)
		if size > 0 && size < 100 {
			want = want[:64<<10] // a lock round trip per byte: keep it short
		}
		_, _ = rand.Read(want)
		var wg sync.WaitGroup
		send := func(c *Conn) {
			defer wg.Done()
			for p := want; len(p) > 0; {
				n := min(len(p), 1+len(p)%5000)
				m, err := c.Write(p[:n])
				assert.NoError(t, err)
				assert.Equal(t, n, m)
				p = p[n:]
			}
			assert.NoError(t, c.CloseWrite())
			_, err := c.Write([]byte("x"))
			assert.ErrorIs(t, err, syscall.EPIPE, "write after CloseWrite")
		}
		recv := func(c *Conn, got *[]byte) {
			defer wg.Done()
			buf := make([]byte, 3333)
			for {
				n, err := c.Read(buf)
				*got = append(*got, buf[:n]...)
				if err != nil {
					assert.ErrorIs(t, err, io.EOF)
					return
				}
			}
		}
		var gotA, gotB []byte
		wg.Add(4)
		go send(a)
		go send(b)
		go recv(a, &gotA)
		go recv(b, &gotB)
		wg.Wait()
		assert.True(t, bytes.Equal(want, gotA), "size %d", size)
		assert.True(t, bytes.Equal(want, gotB), "size %d", size)
	}
}

func TestCloseSemantics(t *testing.T) {
	a, b := pair(0)
	_, err := a.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, a.Close())

	buf := make([]byte, 10)
	n, err := b.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "bye", string(buf[:n]))
	_, err = b.Read(buf)
	assert.Equal(t, io.EOF, err, "EOF after the peer's data")
	_, err = b.Write([]byte("x"))
	assert.ErrorIs(t, err, syscall.EPIPE, "writing to a closed peer")

	_, err = a.Read(buf)
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = a.Write(buf)
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, a.Close(), net.ErrClosed, "second Close")
}

func TestCloseWakesBlockedCalls(t *testing.T) {
	a, _ := pair(4)
	readErr := make(chan error, 1)
	go func() { _, err := a.Read(make([]byte, 1)); readErr <- err }()
	writeErr := make(chan error, 1)
	go func() { _, err := a.Write(make([]byte, 100)); writeErr <- err }() // blocks: buffer of 4
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, a.Close())
	assert.ErrorIs(t, <-readErr, net.ErrClosed, "own Close ends a blocked read")
	assert.ErrorIs(t, <-writeErr, net.ErrClosed, "own Close ends a blocked write")

	e, f := pair(4)
	go func() { _, err := f.Write(make([]byte, 100)); writeErr <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, e.Close())
	assert.ErrorIs(t, <-writeErr, syscall.EPIPE, "the peer closing ends a blocked write")

	c, d := pair(0)
	go func() { _, err := c.Read(make([]byte, 1)); readErr <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, d.Close())
	assert.Equal(t, io.EOF, <-readErr, "the peer closing ends a blocked read")
}

func TestReadDeadline(t *testing.T) {
	a, b := pair(0)
	require.NoError(t, a.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	start := time.Now()
	_, err := a.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout())
	assert.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond)

	// Cleared, the conn works again.
	require.NoError(t, a.SetReadDeadline(time.Time{}))
	_, _ = b.Write([]byte("z"))
	n, err := a.Read(make([]byte, 1))
	assert.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestDeadlineMovedWhileBlocked is what the engine does to stop a
// background read: a deadline in the past set from another goroutine.
func TestDeadlineMovedWhileBlocked(t *testing.T) {
	for _, to := range []time.Duration{-time.Hour, 20 * time.Millisecond} {
		a, _ := pair(0)
		require.NoError(t, a.SetReadDeadline(time.Now().Add(time.Hour)))
		done := make(chan error, 1)
		go func() { _, err := a.Read(make([]byte, 1)); done <- err }()
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, a.SetReadDeadline(time.Now().Add(to)))
		select {
		case err := <-done:
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		case <-time.After(5 * time.Second):
			t.Fatalf("read not woken by deadline %v", to)
		}
	}
}

func TestDeadlineResetAfterFiring(t *testing.T) {
	a, b := pair(0)
	for range 50 {
		require.NoError(t, a.SetReadDeadline(time.Now().Add(time.Millisecond)))
		time.Sleep(time.Duration(rand.Text()[0]%3) * time.Millisecond)
		require.NoError(t, a.SetReadDeadline(time.Now().Add(time.Hour)))
		assert.False(t, a.rdl.expired(), "a new deadline must not inherit the old timer")
	}
	_, _ = b.Write([]byte("k"))
	_, err := a.Read(make([]byte, 1))
	assert.NoError(t, err)
}

func TestWriteDeadlineWhenFull(t *testing.T) {
	a, _ := pair(10)
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(30*time.Millisecond)))
	n, err := a.Write(make([]byte, 25))
	assert.Equal(t, 10, n, "the part that fit is reported")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

func TestReadWaitHook(t *testing.T) {
	a, b := pair(0)
	calls := 0
	a.SetReadWaitHook(func() {
		calls++
		_, _ = b.Write([]byte("late")) // what a flush would provoke
	})
	_, _ = b.Write([]byte("now"))
	buf := make([]byte, 10)
	n, _ := a.Read(buf)
	assert.Equal(t, "now", string(buf[:n]))
	assert.Equal(t, 0, calls, "not called while data is there")
	n, _ = a.Read(buf)
	assert.Equal(t, "late", string(buf[:n]))
	assert.Equal(t, 1, calls)
	a.SetReadWaitHook(nil)
	_ = b.Close()
	_, err := a.Read(buf)
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, 1, calls)
}

func TestZeroLengthIO(t *testing.T) {
	a, _ := pair(0)
	n, err := a.Read(nil)
	assert.Zero(t, n)
	assert.NoError(t, err)
	n, err = a.Write(nil)
	assert.Zero(t, n)
	assert.NoError(t, err)
}

// TestDrainedBufferReleased checks that an idle conn gives its big buffer
// back after a large transfer.
func TestDrainedBufferReleased(t *testing.T) {
	a, b := pair(0)
	_, _ = a.Write(make([]byte, 50<<10))
	_, err := io.ReadFull(b, make([]byte, 50<<10))
	require.NoError(t, err)
	assert.Nil(t, a.out.buf)
}

// TestDeadlineMovedLater checks that the re-armed timer does not fire at
// the earlier deadline.
func TestDeadlineMovedLater(t *testing.T) {
	a, _ := pair(0)
	require.NoError(t, a.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	require.NoError(t, a.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	time.Sleep(60 * time.Millisecond)
	assert.False(t, a.rdl.expired())
	start := time.Now()
	_, err := a.Read(make([]byte, 1))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Greater(t, time.Since(start), 150*time.Millisecond)
}
