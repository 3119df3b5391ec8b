package poller

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socketPair is a connected pair of non-blocking stream sockets: the
// poller watches a, the test plays the client on b.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	return fds[0], fds[1]
}

// TestWatch: a watched descriptor reports its client leaving (a close,
// with nothing unread) once; a client that sends more before it closes
// has not left; input alone is no news; after Unwatch nothing is
// reported, and the registration, left disarmed, becomes the next
// Reside's (changed, not added again: one registration), which is then
// served on input as usual.
func TestWatch(t *testing.T) {
	p := newPoller(t, Tuning{Tick: time.Hour})
	var g Group

	t.Run("close", func(t *testing.T) {
		f := newFake(t, p, &g)
		a, b := socketPair(t)
		defer syscall.Close(a)
		gone := make(chan struct{}, 2)
		require.True(t, p.Watch(&f.e, a, func() { gone <- struct{}{} }))
		_, _ = syscall.Write(b, []byte("GET"))
		select {
		case <-gone:
			t.Fatal("input reported as the client leaving")
		case <-time.After(30 * time.Millisecond):
		}
		var buf [8]byte
		_, _ = syscall.Read(a, buf[:]) // the server reads what came
		require.NoError(t, syscall.Close(b))
		wait(t, gone, "gone")
		select {
		case <-gone:
			t.Fatal("reported twice")
		case <-time.After(30 * time.Millisecond):
		}
		p.Forget(&f.e)
	})

	t.Run("more before close", func(t *testing.T) {
		f := newFake(t, p, &g)
		a, b := socketPair(t)
		defer syscall.Close(a)
		gone := make(chan struct{}, 1)
		require.True(t, p.Watch(&f.e, a, func() { gone <- struct{}{} }))
		_, _ = syscall.Write(b, []byte("GET"))
		require.NoError(t, syscall.Close(b))
		select {
		case <-gone:
			t.Fatal("a client that sent more was taken as gone")
		case <-time.After(50 * time.Millisecond):
		}
		p.Forget(&f.e)
	})

	t.Run("unwatch then reside", func(t *testing.T) {
		f := newFake(t, p, &g)
		before := p.Counts().Registrations
		gone := make(chan struct{}, 1)
		require.True(t, p.Watch(&f.e, f.r, func() { gone <- struct{}{} }))
		p.Unwatch(&f.e, false)
		require.True(t, f.reside())
		f.send()
		assert.True(t, wait(t, f.served, "serve"))
		assert.EqualValues(t, 1, p.Counts().Registrations-before, "the watch's registration was reused")
		assert.Empty(t, gone)
		require.Eventually(t, func() bool { return p.Counts().Listed == 1 }, 5*time.Second, time.Millisecond)
		require.True(t, p.Drain(&f.e))
	})

	t.Run("unwatch drop", func(t *testing.T) {
		f := newFake(t, p, &g)
		a, b := socketPair(t)
		defer syscall.Close(a)
		gone := make(chan struct{}, 1)
		require.True(t, p.Watch(&f.e, a, func() { gone <- struct{}{} }))
		p.Unwatch(&f.e, true)
		require.NoError(t, syscall.Close(b))
		select {
		case <-gone:
			t.Fatal("reported after Unwatch")
		case <-time.After(30 * time.Millisecond):
		}
		// Out of the set: it can be added again.
		require.True(t, p.Watch(&f.e, a, func() { gone <- struct{}{} }))
		wait(t, gone, "gone")
		p.Forget(&f.e)
	})

	t.Run("armed across requests", func(t *testing.T) {
		// A client that stays: the next request's watch finds the
		// registration armed and changes nothing, and still reports.
		f := newFake(t, p, &g)
		a, b := socketPair(t)
		defer syscall.Close(a)
		gone := make(chan struct{}, 2)
		before := p.Counts()
		require.True(t, p.Watch(&f.e, a, func() { t.Error("the first request's watch reported") }))
		p.Unwatch(&f.e, false)
		require.True(t, p.Watch(&f.e, a, func() { gone <- struct{}{} }))
		after := p.Counts()
		assert.EqualValues(t, 1, after.Registrations-before.Registrations)
		assert.EqualValues(t, 0, after.Rearms-before.Rearms, "an armed registration was changed")
		require.NoError(t, syscall.Close(b))
		wait(t, gone, "gone")
		p.Forget(&f.e)
	})

	t.Run("gone between requests", func(t *testing.T) {
		// The client leaves while no request is watched: the report
		// disarms the registration, so the next watch re-arms it and
		// hears at once that the client is gone.
		f := newFake(t, p, &g)
		a, b := socketPair(t)
		defer syscall.Close(a)
		gone := make(chan struct{}, 1)
		require.True(t, p.Watch(&f.e, a, func() { t.Error("the first request's watch reported") }))
		p.Unwatch(&f.e, false)
		require.NoError(t, syscall.Close(b))
		require.Eventually(t, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return !f.e.armed
		}, 5*time.Second, time.Millisecond, "the report was not taken")
		before := p.Counts().Rearms
		require.True(t, p.Watch(&f.e, a, func() { gone <- struct{}{} }))
		assert.EqualValues(t, 1, p.Counts().Rearms-before)
		wait(t, gone, "gone")
		p.Forget(&f.e)
	})
	assert.EqualValues(t, 9, p.Counts().Watches)
}
