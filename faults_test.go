//go:build unix

package httpev

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Faults: the disk failing under an upload (injected through the IO
// interface), TmpPath vanishing, Save to a missing directory, callbacks
// panicking mid-upload, clients resetting mid-response. Each must answer the
// right party, fire OnError where it should, and leave no temp file,
// goroutine or descriptor behind.

// faultIO is an IO backend that writes real temp files and fails with err
// once failAfter bytes of a file are written, in the inline style of
// BlockingIO or, with async, from a writer goroutine like AsyncIO.
type faultIO struct {
	async     bool
	failAfter int64
	err       error
	createErr error

	created, closed atomic.Int32
}

func (f *faultIO) Create(dir string) (FileWriter, error) {
	if f.createErr != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: f.createErr}
	}
	file, err := createTemp(dir)
	if err != nil {
		return nil, err
	}
	f.created.Add(1)
	w := &faultFile{io: f, f: file}
	if f.async {
		w.jobs, w.done = make(chan faultJob, 4), make(chan struct{})
		go w.run()
	}
	return w, nil
}

type faultJob struct {
	chunk []byte
	done  func(error)
}

type faultFile struct {
	io      *faultIO
	f       *os.File
	written int64
	err     error
	jobs    chan faultJob
	done    chan struct{}
}

func (w *faultFile) Path() string { return w.f.Name() }

func (w *faultFile) write(chunk []byte) error {
	if w.err != nil {
		return w.err
	}
	if room := w.io.failAfter - w.written; int64(len(chunk)) > room {
		if room > 0 {
			n, _ := w.f.Write(chunk[:room])
			w.written += int64(n)
		}
		w.err = &os.PathError{Op: "write", Path: w.f.Name(), Err: w.io.err}
		return w.err
	}
	n, err := w.f.Write(chunk)
	w.written += int64(n)
	w.err = err
	return err
}

func (w *faultFile) run() {
	defer close(w.done)
	for j := range w.jobs {
		j.done(w.write(j.chunk))
	}
}

func (w *faultFile) Write(chunk []byte, done func(error)) {
	if w.jobs != nil {
		w.jobs <- faultJob{chunk, done}
		return
	}
	done(w.write(chunk))
}

func (w *faultFile) Close() error {
	if w.jobs != nil {
		close(w.jobs)
		<-w.done
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	w.io.closed.Add(1)
	return w.err
}

// errRecorder collects c.Err() of every OnError call.
type errRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *errRecorder) onError(c *CGI) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, c.Err())
}

func (r *errRecorder) get() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// waitErr waits for the first OnError and returns its error.
func (r *errRecorder) waitErr(t testing.TB) error {
	t.Helper()
	var errs []error
	if !assert.Eventually(t, func() bool { errs = r.get(); return len(errs) > 0 }, 5*time.Second, 5*time.Millisecond, "OnError fires") {
		return nil
	}
	return errs[0]
}

// postRaw sends a whole request on a fresh connection (the body from a
// goroutine, since the server may answer before reading it all) and returns
// the status of the answer, 0 if the connection closed without one.
func postRaw(t testing.TB, addr, head string, body []byte) (int, string) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_, _ = io.WriteString(c, head)
		_, _ = c.Write(body)
	}()
	defer func() { <-sent }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func multipartHead(ct string, n int) string {
	return fmt.Sprintf("POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, n)
}

// TestDiskFaultsDuringUpload: the disk fills up (ENOSPC: 507) or fails
// (EIO: 500) partway through a 1 MiB file, for both writer styles and both
// threading modes. The client gets the status, OnError gets the cause, the
// callback never runs, the writer is closed and the temp file removed.
func TestDiskFaultsDuringUpload(t *testing.T) {
	data := randomBytes(t, 1<<20)
	ct, body := multipartBody(t, map[string]string{"title": "x"}, []testFile{{"f", "big.bin", data}})
	for _, fault := range []struct {
		err    error
		status int
	}{{syscall.ENOSPC, 507}, {syscall.EIO, 500}} {
		for _, async := range []bool{false, true} {
			for _, threading := range []bool{false, true} {
				name := fmt.Sprintf("%v/async=%v/threading=%v", fault.err, async, threading)
				t.Run(name, func(t *testing.T) {
					leakCheck(t)
					tmp := t.TempDir()
					fio := &faultIO{async: async, failAfter: 300 << 10, err: fault.err}
					var rec errRecorder
					var ran atomic.Bool
					_, l, base := testServer(t, Options{TmpPath: tmp, IO: fio},
						ListenOptions{Threading: threading, OnError: rec.onError}, func(c *CGI) {
							ran.Store(true)
							c.Print("ok")
						})
					status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
					assert.Equal(t, fault.status, status)
					err := rec.waitErr(t)
					assert.ErrorIs(t, err, fault.err, "OnError sees the disk error")
					assert.False(t, ran.Load(), "the callback does not run for a failed upload")
					assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond,
						"temp file removed")
					assert.Equal(t, fio.created.Load(), fio.closed.Load(), "every FileWriter closed")
					_, got := get(t, base+"/after")
					assert.Equal(t, "ok", got, "the server keeps serving")
				})
			}
		}
	}
}

// TestTempFileCreateFails: the IO backend cannot create the temp file at
// all (out of descriptors here): 500, OnError, nothing on disk.
func TestTempFileCreateFails(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			var rec errRecorder
			_, l, _ := testServer(t, Options{TmpPath: tmp, IO: &faultIO{createErr: syscall.EMFILE}},
				ListenOptions{Threading: threading, OnError: rec.onError}, func(c *CGI) { c.Print("ok") })
			ct, body := multipartBody(t, nil, []testFile{{"f", "a", []byte("data")}})
			status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
			assert.Equal(t, 500, status)
			assert.ErrorIs(t, rec.waitErr(t), syscall.EMFILE)
			assert.Empty(t, tmpEntries(t, tmp))
		})
	}
}

// TestTmpPathRemovedUnderServer: TmpPath is deleted while the server runs.
// Uploads fail with 500 and OnError (the server does not recreate it behind
// the operator's back); everything else keeps working; once the directory
// is back, uploads work again.
func TestTmpPathRemovedUnderServer(t *testing.T) {
	for _, backend := range []IO{BlockingIO{}, NewAsyncIO(0)} {
		t.Run(fmt.Sprintf("%T", backend), func(t *testing.T) {
			leakCheck(t)
			tmp := filepath.Join(t.TempDir(), "up")
			var rec errRecorder
			_, l, base := testServer(t, Options{TmpPath: tmp, IO: backend}, ListenOptions{OnError: rec.onError},
				func(c *CGI) { c.Printf("ok %d", len(c.Files())) })
			require.NoError(t, os.RemoveAll(tmp))
			ct, body := multipartBody(t, nil, []testFile{{"f", "a", randomBytes(t, 100<<10)}})
			status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
			assert.Equal(t, 500, status)
			assert.ErrorIs(t, rec.waitErr(t), fs.ErrNotExist)
			_, got := get(t, base+"/?a=1")
			assert.Equal(t, "ok 0", got, "requests without files are unaffected")
			_, err := os.Stat(tmp)
			assert.ErrorIs(t, err, fs.ErrNotExist)

			require.NoError(t, os.Mkdir(tmp, 0o700))
			status, got = postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
			assert.Equal(t, 200, status)
			assert.Equal(t, "ok 1", got)
			assert.Empty(t, tmpEntries(t, tmp))
		})
	}
}

// TestTmpPathReadOnly: TmpPath loses write permission while the server
// runs: uploads fail with 500 and OnError (EACCES), and nothing is left.
func TestTmpPathReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root ignores directory permissions: run this test again in a
		// copy of the test binary as nobody, where they hold.
		runAsNobody(t, "TestTmpPathReadOnly")
		return
	}
	leakCheck(t)
	tmp := t.TempDir()
	var rec errRecorder
	_, l, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{OnError: rec.onError}, func(c *CGI) { c.Print("ok") })
	require.NoError(t, os.Chmod(tmp, 0o500))
	t.Cleanup(func() { _ = os.Chmod(tmp, 0o700) })
	ct, body := multipartBody(t, nil, []testFile{{"f", "a", []byte("data")}})
	status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
	assert.Equal(t, 500, status)
	assert.ErrorIs(t, rec.waitErr(t), fs.ErrPermission)
	assert.Empty(t, tmpEntries(t, tmp))
}

// TestSaveToMissingDirectory: Save (Threading on) and SaveAsync (Threading
// off) into a directory that does not exist report fs.ErrNotExist to the
// callback, which answers as it likes; the temp file still goes with the
// request and nothing is created at the destination.
func TestSaveToMissingDirectory(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			dst := filepath.Join(t.TempDir(), "missing", "file")
			saveErr := make(chan error, 1)
			answer := func(c *CGI, err error) {
				saveErr <- err
				if err != nil {
					c.Header(http.Header{"Status": {"500"}})
					c.Print("save failed")
				}
			}
			_, _, base := testServer(t, Options{TmpPath: tmp}, ListenOptions{Threading: threading}, func(c *CGI) {
				f := c.File("f")[0]
				if threading {
					answer(c, f.Save(dst))
					return
				}
				c.Keep()
				f.SaveAsync(dst, func(err error) {
					answer(c, err)
					c.Close()
				})
			})
			ct, body := multipartBody(t, nil, []testFile{{"f", "a", []byte("data")}})
			resp, err := client().Post(base, ct, strings.NewReader(string(body)))
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, 500, resp.StatusCode)
			assert.Equal(t, "save failed", string(b))
			err = <-saveErr
			assert.ErrorIs(t, err, fs.ErrNotExist)
			assert.ErrorContains(t, err, "save")
			assert.Empty(t, tmpEntries(t, tmp), "the unsaved temp file goes with the request")
			_, err = os.Stat(filepath.Dir(dst))
			assert.ErrorIs(t, err, fs.ErrNotExist, "Save creates no directories")
		})
	}
}

// TestPanicInUploadCallback: an upload callback that panics (OnFileWrite
// as the brief's case, and its siblings) must not leave the request half
// handled: the client gets 500, OnError fires, the request callback does
// not run on a body that was not fully processed, the temp file goes, and
// the server keeps serving.
func TestPanicInUploadCallback(t *testing.T) {
	data := randomBytes(t, 300<<10)
	ct, body := multipartBody(t, nil, []testFile{{"f", "a.bin", data}})
	hooks := []struct {
		name string
		set  func(lo *ListenOptions)
	}{
		{"OnFileWrite", func(lo *ListenOptions) {
			lo.OnFileWrite = func(c *CGI, f *MultipartFile, chunk []byte) { panic("OnFileWrite boom") }
		}},
		{"OnFileOpen", func(lo *ListenOptions) { lo.OnFileOpen = func(c *CGI, f *MultipartFile) { panic("OnFileOpen boom") } }},
		{"OnFileReceived", func(lo *ListenOptions) {
			lo.OnFileReceived = func(c *CGI, f *MultipartFile) { panic("OnFileReceived boom") }
		}},
		{"OnMultipart", func(lo *ListenOptions) { lo.OnMultipart = func(c *CGI) { panic("OnMultipart boom") } }},
	}
	for _, hook := range hooks {
		for _, threading := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/threading=%v", hook.name, threading), func(t *testing.T) {
				leakCheck(t)
				tmp := t.TempDir()
				var rec errRecorder
				lo := ListenOptions{Threading: threading, OnError: rec.onError}
				hook.set(&lo)
				var ran atomic.Bool
				_, l, base := testServer(t, Options{TmpPath: tmp}, lo, func(c *CGI) {
					ran.Store(true)
					c.Print("ok")
				})
				status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
				assert.Equal(t, 500, status)
				assert.ErrorIs(t, rec.waitErr(t), ErrCallbackPanicked)
				assert.False(t, ran.Load(), "the request callback must not run after an upload callback panicked")
				assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
				_, got := get(t, base)
				assert.Equal(t, "ok", got, "the server lives")
			})
		}
	}
}

// TestPanicInUploadCallbackIsContained is the part of the above that holds
// today: whatever the answer, a panicking upload callback does not take the
// server down, leaks nothing and leaves no temp file.
func TestPanicInUploadCallbackIsContained(t *testing.T) {
	data := randomBytes(t, 300<<10)
	ct, body := multipartBody(t, nil, []testFile{{"f", "a.bin", data}})
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			var panics atomic.Int32
			lo := ListenOptions{Threading: threading, OnFileWrite: func(c *CGI, f *MultipartFile, chunk []byte) {
				panics.Add(1)
				panic("OnFileWrite boom")
			}}
			_, l, base := testServer(t, Options{TmpPath: tmp}, lo, func(c *CGI) { c.Print("ok") })
			status, _ := postRaw(t, l.Addr().String(), multipartHead(ct, len(body)), body)
			assert.NotZero(t, status, "the client gets an answer")
			assert.Positive(t, panics.Load())
			assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
			_, got := get(t, base)
			assert.Equal(t, "ok", got, "the server lives")
		})
	}
}

// TestClientResetMidResponse: the client reads part of a long response and
// resets the connection (SO_LINGER 0, so RST rather than FIN). The Buffer's
// OnError and the listener's OnError both fire with the connection error,
// and the connection is gone from the server.
func TestClientResetMidResponse(t *testing.T) {
	for _, mode := range []string{"stream", "one write"} {
		for _, threading := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/threading=%v", mode, threading), func(t *testing.T) {
				leakCheck(t)
				var rec errRecorder
				bufErr := make(chan error, 1)
				piece := strings.Repeat("y", 16<<10)
				// One write of 32 MB: more than loopback socket buffers can
				// absorb, so the server is still writing when the reset comes.
				srv, l, _ := testServer(t, Options{MaxBuffered: 64 << 20}, ListenOptions{Threading: threading, OnError: rec.onError}, func(c *CGI) {
					c.Buffer().OnError(func(err error) { bufErr <- err })
					if mode == "one write" {
						c.Print(strings.Repeat(piece, 2048))
						return
					}
					c.Stream(func(c *CGI) bool { c.Print(piece); return true })
				})
				d := net.Dialer{Control: smallRecvBuf}
				c, err := d.Dial("tcp", l.Addr().String())
				require.NoError(t, err)
				_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				require.NoError(t, err)
				_, err = io.ReadFull(c, make([]byte, 100<<10))
				require.NoError(t, err)
				require.NoError(t, c.(*net.TCPConn).SetLinger(0))
				require.NoError(t, c.Close())

				select {
				case err := <-bufErr:
					assert.True(t, isResetOrEOF(err) || errors.Is(err, ErrClientGone), "Buffer.OnError: %v", err)
				case <-time.After(5 * time.Second):
					t.Fatal("Buffer.OnError not called")
				}
				err = rec.waitErr(t)
				assert.Error(t, err, "OnError sees why")
				requireNoConns(t, srv, 5*time.Second)
			})
		}
	}
}

// TestClientResetMidUpload: a client resets in the middle of a file
// upload: OnError, no callback, no temp file, for both writer styles.
func TestClientResetMidUpload(t *testing.T) {
	ct, body := multipartBody(t, nil, []testFile{{"f", "big", randomBytes(t, 4<<20)}})
	for _, backend := range []IO{BlockingIO{}, NewAsyncIO(0)} {
		for _, threading := range []bool{false, true} {
			t.Run(fmt.Sprintf("%T/threading=%v", backend, threading), func(t *testing.T) {
				leakCheck(t)
				tmp := t.TempDir()
				var rec errRecorder
				opened := make(chan struct{}, 1)
				srv, l, _ := testServer(t, Options{TmpPath: tmp, IO: backend}, ListenOptions{Threading: threading,
					OnError:    rec.onError,
					OnFileOpen: func(c *CGI, f *MultipartFile) { opened <- struct{}{} },
				}, func(c *CGI) { t.Error("callback ran for a reset upload") })
				c := dial(t, l.Addr().String())
				_, err := io.WriteString(c, multipartHead(ct, len(body)))
				require.NoError(t, err)
				_, err = c.Write(body[:1<<20])
				require.NoError(t, err)
				<-opened
				require.NoError(t, c.(*net.TCPConn).SetLinger(0))
				require.NoError(t, c.Close())
				assert.Error(t, rec.waitErr(t))
				requireNoConns(t, srv, 5*time.Second)
				assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
			})
		}
	}
}
