package httpev

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadBufferBudget: a reader ahead of its disk writer (here an
// OnFileWrite that blocks) holds at most uploadBufs buffers, instead of a
// fresh one per chunk queued behind the writer, and the file still
// arrives whole once the writer goes on.
func TestUploadBufferBudget(t *testing.T) {
	for _, threading := range []bool{true, false} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			gate := make(chan struct{})
			var gated atomic.Bool
			var got atomic.Int64
			lo := ListenOptions{Threading: threading,
				OnFileWrite: func(_ *CGI, _ *MultipartFile, chunk []byte) {
					if gated.CompareAndSwap(false, true) {
						<-gate // the first chunk holds the writer up
					}
					got.Add(int64(len(chunk)))
				}}
			srv, err := New(Options{TmpPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			var made atomic.Int32
			newBuf := srv.upBufs.New
			srv.upBufs.New = func() any { made.Add(1); return newBuf() }
			l, err := srv.Listen("127.0.0.1:0", func(c *CGI) {
				for _, f := range c.Files() {
					fmt.Fprintf(c, "%d", f.Size())
				}
			}, lo)
			require.NoError(t, err)
			base := "http://" + l.Addr().String()

			content := make([]byte, 4<<20)
			_, _ = rand.Read(content)
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile("f", "f.bin")
			_, _ = fw.Write(content)
			_ = mw.Close()
			type result struct {
				body string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				res, err := http.Post(base+"/", mw.FormDataContentType(), &body)
				if err != nil {
					done <- result{err: err}
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				done <- result{string(b), err}
			}()

			// Let the reader run ahead as far as it may: the client's
			// bytes fill the socket buffers meanwhile.
			time.Sleep(300 * time.Millisecond)
			assert.True(t, gated.Load(), "the writer reached OnFileWrite")
			assert.LessOrEqual(t, made.Load(), int32(uploadBufs), "buffers taken while the writer was held up")
			close(gate)
			select {
			case r := <-done:
				require.NoError(t, r.err)
				assert.Equal(t, fmt.Sprint(len(content)), r.body)
			case <-time.After(20 * time.Second):
				t.Fatal("the upload did not finish within 20 s of the writer going on")
			}
			assert.Equal(t, int64(len(content)), got.Load())
		})
	}
}
