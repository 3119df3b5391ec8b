package httpev

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsyncIOMaxOverlapped: files get a writer goroutine up to
// MaxOverlapped at once; one opened beyond that is written inline, its
// done run before Write returns; a writer closed frees its slot; a
// negative bound gives every file a writer. Every file gets its bytes.
func TestAsyncIOMaxOverlapped(t *testing.T) {
	dir := t.TempDir()
	overlapped := func(w FileWriter) bool { _, ok := w.(*asyncFile); return ok }
	write := func(w FileWriter, s string) (inline bool) {
		var ran atomic.Bool
		w.Write([]byte(s), func(err error) { assert.NoError(t, err); ran.Store(true) })
		return ran.Load()
	}
	check := func(w FileWriter, want string) {
		path := w.Path()
		require.NoError(t, w.Close())
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}

	a := &AsyncIO{MaxOverlapped: 2}
	var ws []FileWriter
	for i := range 4 {
		w, err := a.Create(dir)
		require.NoError(t, err)
		assert.Equal(t, i < 2, overlapped(w), "file %d", i)
		if !overlapped(w) {
			assert.True(t, write(w, fmt.Sprint(i)), "file %d: done ran before Write returned", i)
		} else {
			write(w, fmt.Sprint(i))
		}
		ws = append(ws, w)
	}
	check(ws[0], "0")
	w, err := a.Create(dir)
	require.NoError(t, err)
	assert.True(t, overlapped(w), "a file opened after a writer closed gets its slot")
	write(w, "x")
	check(w, "x")
	for i, w := range ws[1:] {
		check(w, fmt.Sprint(i+1))
	}

	def := NewAsyncIO(0)
	unbounded := &AsyncIO{MaxOverlapped: -1}
	var dws, uws []FileWriter
	for range 6 {
		w, err := def.Create(dir)
		require.NoError(t, err)
		dws = append(dws, w)
		w, err = unbounded.Create(dir)
		require.NoError(t, err)
		assert.True(t, overlapped(w), "no bound")
		uws = append(uws, w)
	}
	for i, w := range dws {
		assert.Equal(t, i < 4, overlapped(w), "default bound of 4, file %d", i)
		check(w, "")
	}
	for _, w := range uws {
		check(w, "")
	}
}
