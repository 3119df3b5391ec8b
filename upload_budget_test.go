package httpev

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"runtime"
	"sync"
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
			made := countBuffers(srv)
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
			assert.LessOrEqual(t, made[0].Load()+made[1].Load(), int32(uploadBufs), "buffers taken while the writer was held up")
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

// rawUpload is a multipart request holding one file of random bytes,
// and the answer answerFiles gives to it.
func rawUpload(t testing.TB, size int) (req []byte, answer string) {
	t.Helper()
	content := make([]byte, size)
	_, _ = rand.Read(content)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("f", "f.bin")
	require.NoError(t, err)
	_, _ = fw.Write(content)
	require.NoError(t, mw.Close())
	req = fmt.Appendf(nil, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		mw.FormDataContentType(), body.Len())
	return append(req, body.Bytes()...), fmt.Sprintf("%d %x\n", size, sha256.Sum256(content))
}

// answerFiles answers with the size and SHA-256 of every file received,
// as read back from the disk.
func answerFiles(c *CGI) {
	c.Header(nil)
	for _, f := range c.Files() {
		h := sha256.New()
		r, err := f.Open()
		if err == nil {
			_, err = io.Copy(h, r)
			r.Close()
		}
		if err != nil {
			fmt.Fprintf(c, "%v\n", err)
			continue
		}
		fmt.Fprintf(c, "%d %x\n", f.Size(), h.Sum(nil))
	}
}

// countBuffers counts the upload buffers the server allocates, big and small.
func countBuffers(srv *Server) *[2]atomic.Int32 {
	var made [2]atomic.Int32
	for i, p := range []*sync.Pool{&srv.upBufs.big, &srv.upBufs.small} {
		newBuf := p.New
		p.New = func() any { made[i].Add(1); return newBuf() }
	}
	return &made
}

// TestUploadChunksAllocateNothing: a chunk on its way to the disk, its
// OnFileWrite included, allocates nothing in either threading mode, with
// either backend, so the garbage collector's headroom does not grow with
// the bytes uploaded (at 16 KB chunks, four small allocations per chunk
// doubled the heap between collections with 100 uploads in flight).
// Measured as the allocations an 8 MiB upload makes beyond a 1 MiB one on
// the same connection, against the extra chunks it takes.
func TestUploadChunksAllocateNothing(t *testing.T) {
	if raceEnabled() {
		t.Skip("allocation counts differ under the race detector")
	}
	small, _ := rawUpload(t, 1<<20)
	large, _ := rawUpload(t, 8<<20)
	for _, be := range []struct {
		name string
		io   IO
	}{{"async", nil}, {"blocking", BlockingIO{}}} {
		for _, threading := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/threading=%v", be.name, threading), func(t *testing.T) {
				var chunks atomic.Int64
				_, l, _ := testServer(t, Options{IO: be.io}, ListenOptions{Threading: threading,
					OnFileWrite: func(*CGI, *MultipartFile, []byte) { chunks.Add(1) }},
					func(c *CGI) { c.Header(nil) })
				c, br := rawConn(t, l)
				upload := func(req []byte) (mallocs uint64, n int64) {
					var before, after runtime.MemStats
					c0 := chunks.Load()
					runtime.ReadMemStats(&before)
					_, err := c.Write(req)
					require.NoError(t, err)
					res, body := readResponse(t, br, "POST")
					runtime.ReadMemStats(&after)
					require.Equal(t, 200, res.StatusCode, body)
					return after.Mallocs - before.Mallocs, chunks.Load() - c0
				}
				upload(small) // warm up: pools, the connection's buffers
				m1, n1 := upload(small)
				m8, n8 := upload(large)
				t.Logf("1 MiB: %d allocations, %d chunks; 8 MiB: %d allocations, %d chunks", m1, n1, m8, n8)
				require.Greater(t, n8-n1, int64(50), "the larger upload takes more chunks")
				assert.Less(t, int64(m8)-int64(m1), (n8-n1)/4, "allocations beyond the smaller upload's, against its extra chunks")
			})
		}
	}
}

// TestUploadBufferSizes: a lone upload reads through big buffers; with
// more than uploadsBig in flight, uploads take small ones (their memory is
// what counts then), also those that began with big ones, and every file
// still arrives whole.
func TestUploadBufferSizes(t *testing.T) {
	for _, threading := range []bool{true, false} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, answerFiles)
			made := countBuffers(srv)

			req, want := rawUpload(t, 2<<20)
			c, br := rawConn(t, l)
			_, err := c.Write(req)
			require.NoError(t, err)
			_, body := readResponse(t, br, "POST")
			assert.Equal(t, want, body)
			assert.NotZero(t, made[0].Load(), "big buffers taken by a lone upload")
			assert.Zero(t, made[1].Load(), "small buffers taken by a lone upload")

			// Many: every upload sends its head and 64 KB of its body,
			// then waits until all are in flight before sending the rest.
			const n = uploadsBig + 3
			type upload struct {
				c    net.Conn
				br   *bufio.Reader
				req  []byte
				want string
			}
			ups := make([]upload, n)
			for i := range ups {
				u := &ups[i]
				u.req, u.want = rawUpload(t, 1<<20+i*4096)
				u.c, u.br = rawConn(t, l)
				_, err := u.c.Write(u.req[:64<<10])
				require.NoError(t, err)
			}
			require.Eventually(t, func() bool { return srv.Stats().UploadsInFlight == n },
				10*time.Second, 5*time.Millisecond, "all uploads in flight")
			var wg sync.WaitGroup
			for i := range ups {
				u := &ups[i]
				wg.Go(func() {
					if _, err := u.c.Write(u.req[64<<10:]); err != nil {
						t.Errorf("upload %d: %v", i, err)
						return
					}
					res, err := http.ReadResponse(u.br, &http.Request{Method: "POST"})
					if err != nil {
						t.Errorf("upload %d: %v", i, err)
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					assert.Equal(t, u.want, string(b), "upload %d", i)
				})
			}
			wg.Wait()
			assert.NotZero(t, made[1].Load(), "small buffers taken with %d uploads in flight", n)
		})
	}
}
