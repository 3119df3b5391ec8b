package httpev

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uploadRecord is what the callbacks of one upload saw.
type uploadRecord struct {
	mu       sync.Mutex
	events   []string
	hashes   map[string][]byte // hash of the OnFileWrite chunks per file
	sizes    []int64           // f.Size() seen in OnFileWrite, in order
	errs     []error
	received chan struct{}
}

func newRecorder() (*uploadRecord, ListenOptions) {
	r := &uploadRecord{hashes: map[string][]byte{}, received: make(chan struct{}, 16)}
	hs := map[*MultipartFile]hashState{}
	lo := ListenOptions{
		OnMultipart: func(c *CGI) { r.add("multipart") },
		OnFileOpen: func(c *CGI, f *MultipartFile) {
			r.add("open " + f.FieldName() + " " + f.Name())
			r.mu.Lock()
			hs[f] = hashState{h: sha256.New()}
			r.mu.Unlock()
		},
		OnFileWrite: func(c *CGI, f *MultipartFile, chunk []byte) {
			r.mu.Lock()
			defer r.mu.Unlock()
			hs[f].h.Write(chunk)
			r.sizes = append(r.sizes, f.Size())
		},
		OnFileReceived: func(c *CGI, f *MultipartFile) {
			r.add("received " + f.Name())
			r.mu.Lock()
			r.hashes[f.Name()] = hs[f].h.Sum(nil)
			r.mu.Unlock()
		},
		OnError: func(c *CGI) {
			r.mu.Lock()
			r.errs = append(r.errs, c.Err())
			r.mu.Unlock()
			r.received <- struct{}{}
		},
	}
	return r, lo
}

type hashState struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
}

func (r *uploadRecord) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// describeFiles is the callback of the upload tests: it answers with what
// it received and checks each temp file's content.
func describeFiles(c *CGI) {
	fmt.Fprintf(c, "title=%s\n", c.Param("title"))
	for _, f := range c.Files() {
		fh, err := f.Open()
		if err != nil {
			fmt.Fprintf(c, "open error %v\n", err)
			continue
		}
		b, _ := io.ReadAll(fh)
		fh.Close()
		fmt.Fprintf(c, "%s %s %s %d %s\n", f.FieldName(), f.Name(), f.ContentType(), f.Size(), sha(b))
	}
}

func multipartBody(t testing.TB, fields map[string]string, files []testFile) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, w.WriteField(k, v))
	}
	for _, f := range files {
		part, err := w.CreateFormFile(f.field, f.name)
		require.NoError(t, err)
		part.Write(f.data)
	}
	require.NoError(t, w.Close())
	return w.FormDataContentType(), buf.Bytes()
}

type testFile struct {
	field, name string
	data        []byte
}

func tmpEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestUploadBackendsAndModes(t *testing.T) {
	a := randomBytes(t, 300<<10)
	b := append([]byte("--boundary-lookalike\r\n--\r\n"), randomBytes(t, 70000)...)
	for _, backend := range []IO{BlockingIO{}, NewAsyncIO(0)} {
		for _, threading := range []bool{false, true} {
			t.Run(fmt.Sprintf("%T/threading=%v", backend, threading), func(t *testing.T) {
				tmp := t.TempDir()
				rec, lo := newRecorder()
				lo.Threading = threading
				_, _, base := testServer(t, Options{TmpPath: tmp, IO: backend}, lo, describeFiles)
				ct, body := multipartBody(t, map[string]string{"title": "two files"},
					[]testFile{{"docs", "a.bin", a}, {"docs", "b.bin", b}})
				resp, err := client().Post(base+"/up", ct, bytes.NewReader(body))
				require.NoError(t, err)
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, fmt.Sprintf("title=two files\ndocs a.bin application/octet-stream %d %s\ndocs b.bin application/octet-stream %d %s\n",
					len(a), sha(a), len(b), sha(b)), string(out))
				rec.mu.Lock()
				assert.Equal(t, []string{"multipart", "open docs a.bin", "received a.bin", "open docs b.bin", "received b.bin"}, rec.events)
				assert.Equal(t, sha(a), hex.EncodeToString(rec.hashes["a.bin"]), "OnFileWrite chunks concatenate to the file")
				assert.Equal(t, sha(b), hex.EncodeToString(rec.hashes["b.bin"]))
				assert.True(t, len(rec.sizes) > 2 && rec.sizes[0] < int64(len(a)), "progress is reported while the file arrives")
				rec.mu.Unlock()
				assert.Empty(t, tmpEntries(t, tmp), "unsaved temp files are removed with the request")
			})
		}
	}
}

func TestUploadChunkedAndOneByteWrites(t *testing.T) {
	tmp := t.TempDir()
	_, l, base := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, describeFiles)
	data := randomBytes(t, 5000)
	ct, body := multipartBody(t, map[string]string{"title": "x"}, []testFile{{"f", "one.txt", data}})
	want := fmt.Sprintf("title=x\nf one.txt application/octet-stream %d %s\n", len(data), sha(data))

	t.Run("chunked transfer coding", func(t *testing.T) {
		resp, err := client().Post(base, ct, io.MultiReader(bytes.NewReader(body)))
		require.NoError(t, err)
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, string(out))
	})
	t.Run("one byte per write", func(t *testing.T) {
		conn, br := rawConn(t, l)
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
		for i := range body {
			_, err := conn.Write(body[i : i+1])
			require.NoError(t, err)
		}
		_, out := readResponse(t, br, "POST")
		assert.Equal(t, want, out)
	})
	assert.Empty(t, tmpEntries(t, tmp))
}

func TestUploadWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (apt-get install curl); .ci/run installs it")
	}
	tmp := t.TempDir()
	_, _, base := testServer(t, Options{TmpPath: tmp}, ListenOptions{Threading: true}, describeFiles)
	src := t.TempDir()
	files := map[string][]byte{"plain.txt": []byte("hello\r\n--\r\n"), "утф8.bin": randomBytes(t, 100000), "empty": nil}
	for n, d := range files {
		require.NoError(t, os.WriteFile(filepath.Join(src, n), d, 0o600))
	}
	out, err := exec.Command(curl, "-sS", "--fail",
		"-F", "title=curl",
		"-F", "a=@"+filepath.Join(src, "plain.txt")+";type=text/plain",
		"-F", "a=@"+filepath.Join(src, "утф8.bin"),
		"-F", "b=@"+filepath.Join(src, "empty")+`;filename=../.\..:<>evil.jpg`,
		base+"/").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "title=curl\n"+
		fmt.Sprintf("a plain.txt text/plain 11 %s\n", sha(files["plain.txt"]))+
		fmt.Sprintf("a утф8.bin application/octet-stream 100000 %s\n", sha(files["утф8.bin"]))+
		fmt.Sprintf("b .._.__..___evil.jpg image/jpeg 0 %s\n", sha(nil)), string(out)) // curl guesses the type
	assert.Empty(t, tmpEntries(t, tmp))
}

func TestUploadLimits(t *testing.T) {
	big := randomBytes(t, 200<<10)
	cases := []struct {
		name   string
		opts   Options
		fields map[string]string
		files  []testFile
	}{
		{"field value", Options{MaxFieldValue: 10}, map[string]string{"v": strings.Repeat("x", 11)}, nil},
		{"field name", Options{MaxFieldName: 5}, map[string]string{"toolongname": "x"}, nil},
		{"file size", Options{MaxFileSize: 100 << 10}, nil, []testFile{{"f", "big", big}}},
		{"request body", Options{MaxRequestBody: 150 << 10}, nil, []testFile{{"f", "a", big[:100<<10]}, {"f", "b", big[:100<<10]}}},
		{"field count", Options{MaxFormFields: 3}, map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, nil},
	}
	for _, tc := range cases {
		for _, threading := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/threading=%v", tc.name, threading), func(t *testing.T) {
				tmp := t.TempDir()
				tc.opts.TmpPath = tmp
				rec, lo := newRecorder()
				lo.Threading = threading
				called := false
				_, _, base := testServer(t, tc.opts, lo, func(c *CGI) { called = true })
				ct, body := multipartBody(t, tc.fields, tc.files)
				resp, err := client().Post(base, ct, bytes.NewReader(body))
				if err == nil { // the server may close before the client finished sending
					assert.Equal(t, 413, resp.StatusCode)
					resp.Body.Close()
				}
				select {
				case <-rec.received:
				case <-time.After(5 * time.Second):
					t.Fatal("OnError not called")
				}
				rec.mu.Lock()
				assert.ErrorIs(t, rec.errs[0], ErrTooLarge)
				rec.mu.Unlock()
				assert.False(t, called)
				assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
			})
		}
	}
}

func TestUploadClientKilledMidway(t *testing.T) {
	tmp := t.TempDir()
	rec, lo := newRecorder()
	opened := make(chan struct{}, 1)
	open := lo.OnFileOpen
	lo.OnFileOpen = func(c *CGI, f *MultipartFile) { open(c, f); opened <- struct{}{} }
	_, l, _ := testServer(t, Options{TmpPath: tmp}, lo, func(c *CGI) { t.Error("callback ran for a cut upload") })
	ct, body := multipartBody(t, nil, []testFile{{"f", "big", randomBytes(t, 1<<20)}})
	conn, _ := rawConn(t, l)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
	conn.Write(body[:len(body)/2])
	<-opened
	conn.Close()
	select {
	case <-rec.received:
	case <-time.After(5 * time.Second):
		t.Fatal("OnError not called")
	}
	assert.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 2*time.Second, 10*time.Millisecond)
}

func TestUploadTruncatedBody(t *testing.T) {
	tmp := t.TempDir()
	_, l, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, func(c *CGI) { t.Error("callback ran") })
	ct, body := multipartBody(t, nil, []testFile{{"f", "x", []byte("some content")}})
	cut := body[:len(body)-10] // the closing boundary never comes, though the body "ends"
	conn, br := rawConn(t, l)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ct, len(cut), cut)
	resp, _ := readResponse(t, br, "POST")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Empty(t, tmpEntries(t, tmp))
}

func TestSaveRenameThenCopy(t *testing.T) {
	dirs := []string{t.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "httpev-test")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(d) })
		dirs = append(dirs, d) // another filesystem (tmpfs): Save must copy
	}
	for _, dst := range dirs {
		t.Run(dst, func(t *testing.T) {
			tmp := t.TempDir()
			data := randomBytes(t, 10000)
			errs := make(chan error, 3)
			_, _, base := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, func(c *CGI) {
				f := c.File("f")[0]
				errs <- f.Save(filepath.Join(dst, "one"))
				errs <- f.Save(filepath.Join(dst, "two"))
				errs <- f.Save(filepath.Join(dst, "missing-dir", "three"))
			})
			ct, body := multipartBody(t, nil, []testFile{{"f", "x", data}})
			resp, err := client().Post(base, ct, bytes.NewReader(body))
			require.NoError(t, err)
			resp.Body.Close()
			require.NoError(t, <-errs)
			require.NoError(t, <-errs)
			assert.Error(t, <-errs, "saving into a missing directory fails clearly")
			for _, n := range []string{"one", "two"} {
				got, err := os.ReadFile(filepath.Join(dst, n))
				require.NoError(t, err)
				assert.Equal(t, sha(data), sha(got))
			}
			assert.Empty(t, tmpEntries(t, tmp))
		})
	}
}

func TestSaveAsyncOnLoop(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "saved")
	done := make(chan error, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Keep()
		c.File("f")[0].SaveAsync(dst, func(err error) {
			done <- err
			c.Print("saved")
			c.Close()
		})
	})
	ct, body := multipartBody(t, nil, []testFile{{"f", "x", []byte("data")}})
	resp, err := client().Post(base, ct, bytes.NewReader(body))
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "saved", string(out))
	require.NoError(t, <-done)
	got, _ := os.ReadFile(dst)
	assert.Equal(t, "data", string(got))
}

func TestUploadStopStart(t *testing.T) {
	var once sync.Once
	paused := make(chan *CGI, 1)
	var sizeAtPause int64
	lo := ListenOptions{OnFileWrite: func(c *CGI, f *MultipartFile, chunk []byte) {
		once.Do(func() {
			c.Stop()
			sizeAtPause = f.Size()
			paused <- c
		})
	}}
	_, _, base := testServer(t, Options{}, lo, func(c *CGI) { fmt.Fprint(c, c.File("f")[0].Size()) })
	data := randomBytes(t, 8<<20)
	ct, body := multipartBody(t, nil, []testFile{{"f", "x", data}})
	got := make(chan string, 1)
	go func() {
		resp, err := client().Post(base, ct, bytes.NewReader(body))
		if err != nil {
			got <- err.Error()
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(out)
	}()
	c := <-paused
	time.Sleep(200 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("upload finished while paused")
	default:
	}
	assert.Less(t, sizeAtPause, int64(len(data)))
	c.Start()
	assert.Equal(t, fmt.Sprint(len(data)), <-got)
}

func TestRawBodyToFile(t *testing.T) {
	tmp := t.TempDir()
	rec, lo := newRecorder()
	lo.RawBodyToFile = true
	_, _, base := testServer(t, Options{TmpPath: tmp}, lo, describeFiles)
	data := randomBytes(t, 200000)
	req, _ := http.NewRequest("PUT", base+"/dir/image.iso", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client().Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, fmt.Sprintf("title=\n image.iso application/octet-stream %d %s\n", len(data), sha(data)), string(out))
	assert.Equal(t, sha(data), hex.EncodeToString(rec.hashes["image.iso"]))
	assert.Empty(t, tmpEntries(t, tmp))
}

// TestRawBodyToFileLimits: a raw body past MaxRequestBody or MaxFileSize,
// declared or chunked, is refused with 413 and OnError; the callback never
// runs and no temp file is left.
func TestRawBodyToFileLimits(t *testing.T) {
	const limit = 64 << 10
	data := randomBytes(t, 2*limit)
	for _, tc := range []struct {
		name    string
		opts    Options
		chunked bool
	}{
		{"MaxRequestBody/declared", Options{MaxRequestBody: limit}, false},
		{"MaxRequestBody/chunked", Options{MaxRequestBody: limit}, true},
		{"MaxFileSize/declared", Options{MaxFileSize: limit}, false},
		{"MaxFileSize/chunked", Options{MaxFileSize: limit}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			tmp := t.TempDir()
			tc.opts.TmpPath = tmp
			rec, lo := newRecorder()
			lo.RawBodyToFile = true
			var called atomic.Bool
			_, _, base := testServer(t, tc.opts, lo, func(c *CGI) { called.Store(true) })
			var body io.Reader = bytes.NewReader(data)
			if tc.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			req, _ := http.NewRequest("PUT", base+"/big.bin", body)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 413, resp.StatusCode)
			select {
			case <-rec.received:
			case <-time.After(5 * time.Second):
				t.Fatal("OnError not called")
			}
			rec.mu.Lock()
			require.Len(t, rec.errs, 1)
			assert.ErrorIs(t, rec.errs[0], ErrTooLarge)
			rec.mu.Unlock()
			assert.False(t, called.Load(), "the callback does not run")
			require.Eventually(t, func() bool { return len(tmpEntries(t, tmp)) == 0 }, 5*time.Second, 10*time.Millisecond,
				"no temp file left")
		})
	}
}

func TestTmpPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	srv, err := New(Options{TmpPath: dir, CleanupOnDestroy: true})
	require.NoError(t, err)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stale"), nil, 0o600))
	require.NoError(t, srv.Close())
	assert.Empty(t, tmpEntries(t, dir), "CleanupOnDestroy empties TmpPath on Close")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = New(Options{TmpPath: filepath.Join(file, "sub")})
	assert.ErrorContains(t, err, "temp directory")
}

func TestTempFileMode(t *testing.T) {
	for _, backend := range []IO{BlockingIO{}, NewAsyncIO(2)} {
		w, err := backend.Create(t.TempDir())
		require.NoError(t, err)
		st, err := os.Stat(w.Path())
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
		assert.Regexp(t, `httpev-[0-9a-f]{32}$`, w.Path())
		require.NoError(t, w.Close())
	}
}
