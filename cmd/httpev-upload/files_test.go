package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadListDownloadDelete is the file path end to end, in every
// combination of threading mode and disk backend.
func TestUploadListDownloadDelete(t *testing.T) {
	for _, io := range []string{"async", "blocking"} {
		for _, threading := range []string{"false", "true"} {
			t.Run("io="+io+"/threading="+threading, func(t *testing.T) {
				app := startApp(t, "-io", io, "-threading="+threading)
				big, small := randomBytes(t, 3<<20+123), []byte("hello, httpev\n")

				saved := upload(t, app.base, "", part{field: "file", name: "big.bin", data: big},
					part{field: "file", name: "notes.txt", data: small})
				require.Len(t, saved, 2)
				assert.Equal(t, "big.bin", saved[0].Name)
				assert.Equal(t, int64(len(big)), saved[0].Size)
				assert.Equal(t, sha(big), saved[0].SHA256)
				assert.Equal(t, "notes.txt", saved[1].Name)
				assert.Equal(t, sha(small), saved[1].SHA256)
				assert.WithinDuration(t, time.Now(), saved[0].Time, time.Minute)

				byName := map[string]fileInfo{}
				for _, f := range list(t, app.base) {
					byName[f.Name] = f
				}
				require.Len(t, byName, 2)
				assert.Equal(t, sha(big), byName["big.bin"].SHA256)
				assert.Equal(t, int64(len(small)), byName["notes.txt"].Size)

				t.Run("download", func(t *testing.T) {
					status, h, body := do(t, newRequest(t, "GET", app.base+byName["big.bin"].URL, nil))
					require.Equal(t, http.StatusOK, status)
					assert.True(t, bytes.Equal(big, body), "downloaded bytes differ")
					assert.Equal(t, "3145851", h.Get("Content-Length"))
					assert.Equal(t, "application/octet-stream", h.Get("Content-Type"))
					assert.Equal(t, `attachment; filename=big.bin`, h.Get("Content-Disposition"))
					assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))

					status, h, body = do(t, newRequest(t, "GET", app.base+"/files/notes.txt", nil))
					require.Equal(t, http.StatusOK, status)
					assert.Equal(t, small, body)
					assert.Equal(t, "text/plain; charset=utf-8", h.Get("Content-Type"))

					status, h, body = do(t, newRequest(t, "HEAD", app.base+"/files/big.bin", nil))
					assert.Equal(t, http.StatusOK, status)
					assert.Equal(t, "3145851", h.Get("Content-Length"))
					assert.Empty(t, body)
				})

				t.Run("names are de-duplicated", func(t *testing.T) {
					again := upload(t, app.base, "", part{field: "file", name: "notes.txt", data: []byte("v2")},
						part{field: "file", name: "notes.txt", data: []byte("v3")})
					require.Len(t, again, 2)
					assert.Equal(t, "notes (1).txt", again[0].Name)
					assert.Equal(t, "notes (2).txt", again[1].Name)
					got, err := os.ReadFile(filepath.Join(app.dir, "notes (2).txt"))
					require.NoError(t, err)
					assert.Equal(t, "v3", string(got))
					got, err = os.ReadFile(filepath.Join(app.dir, "notes.txt"))
					require.NoError(t, err)
					assert.Equal(t, small, got, "the first file is not replaced")
					status, _, body := do(t, newRequest(t, "GET", app.base+again[0].URL, nil))
					require.Equal(t, http.StatusOK, status)
					assert.Equal(t, "v2", string(body))
				})

				t.Run("delete", func(t *testing.T) {
					status, _, body := do(t, newRequest(t, "DELETE", app.base+"/files/big.bin", nil))
					require.Equal(t, http.StatusNoContent, status, "%s", body)
					assert.NoFileExists(t, filepath.Join(app.dir, "big.bin"))
					for _, f := range list(t, app.base) {
						assert.NotEqual(t, "big.bin", f.Name)
					}
					status, _, _ = do(t, newRequest(t, "GET", app.base+"/files/big.bin", nil))
					assert.Equal(t, http.StatusNotFound, status)
					status, _, _ = do(t, newRequest(t, "DELETE", app.base+"/files/big.bin", nil))
					assert.Equal(t, http.StatusNotFound, status)
				})

				assert.Empty(t, dirNames(t, app.tmp), "no temp file is left behind")
			})
		}
	}
}

func TestDownloadRefusesPathsOutsideTheCatalog(t *testing.T) {
	app := startApp(t)
	secret := filepath.Join(filepath.Dir(app.dir), "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(app.dir, ".hidden"), []byte("x"), 0o600))
	require.NoError(t, os.Symlink(secret, filepath.Join(app.dir, "link.txt")))
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/files/..%2Fsecret.txt", http.StatusBadRequest},
		{"/files/%2E%2E%2Fsecret.txt", http.StatusBadRequest},
		{"/files/..%5Csecret.txt", http.StatusBadRequest},
		{"/files/.hidden", http.StatusBadRequest},
		{"/files/.tmp", http.StatusBadRequest},
		{"/files/a%00b", http.StatusBadRequest},
		{"/files/%zz", http.StatusBadRequest},
		{"/files/link.txt", http.StatusNotFound}, // created after start: not in the catalog
		{"/files/nothing.txt", http.StatusNotFound},
		{"/files/", http.StatusBadRequest},
	} {
		for _, method := range []string{"GET", "DELETE"} {
			req := newRequest(t, method, app.base, nil)
			req.URL.Opaque = tc.path // sent as is, even when not a valid escape
			status, _, body := do(t, req)
			assert.Equal(t, tc.status, status, "%s %s: %s", method, tc.path, body)
			assert.NotContains(t, string(body), "secret")
		}
	}
	assert.FileExists(t, secret)
	assert.FileExists(t, filepath.Join(app.dir, "link.txt"))
}

func TestFilesFoundAtStart(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.txt"), []byte("from before"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".dotfile"), []byte("x"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	app := startApp(t, "-dir", dir)
	files := list(t, app.base)
	require.Len(t, files, 1)
	assert.Equal(t, "old.txt", files[0].Name)
	assert.Equal(t, int64(11), files[0].Size)
	assert.Empty(t, files[0].SHA256, "hashes are computed on the way in, never by re-reading")
	saved := upload(t, app.base, "", part{field: "f", name: "old.txt", data: []byte("new")})
	assert.Equal(t, "old (1).txt", saved[0].Name)
}

func TestUploadWithoutFiles(t *testing.T) {
	app := startApp(t)
	ct, body := multipartBody(t, part{field: "title", data: []byte("no file")})
	req := newRequest(t, "POST", app.base+"/files", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	status, _, out := do(t, req)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(out), "error")

	status, h, _ := do(t, newRequest(t, "PUT", app.base+"/files", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Equal(t, "GET, HEAD, POST", h.Get("Allow"))
}

func TestMaxFileSize(t *testing.T) {
	app := startApp(t, "-max-file-size", "64K")
	upload(t, app.base, "", part{field: "f", name: "fits.bin", data: randomBytes(t, 64<<10)})

	ct, body := multipartBody(t, part{field: "f", name: "big.bin", data: randomBytes(t, 64<<10+1)})
	req := newRequest(t, "POST", app.base+"/files", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	resp, err := client().Do(req)
	if err == nil { // the server may close before the client finished sending
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	}
	require.Eventually(t, func() bool { return len(dirNames(t, app.tmp)) == 0 }, 5*time.Second, 20*time.Millisecond)
	files := list(t, app.base)
	require.Len(t, files, 1)
	assert.Equal(t, "fits.bin", files[0].Name)
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"a.txt", 0, "a.txt"},
		{"a.txt", 1, "a (1).txt"},
		{"archive.tar.gz", 2, "archive (2).tar.gz"},
		{"README", 3, "README (3)"},
	} {
		assert.Equal(t, tc.want, numbered(tc.name, tc.n))
	}
	for in, want := range map[string]string{
		"":             "upload",
		"...":          "upload",
		".bashrc":      "bashrc",
		"../etc/x":     "_etc_x",
		" spaced.txt ": "spaced.txt",
	} {
		assert.Equal(t, want, storableName(in), "%q", in)
	}
	long := storableName(string(bytes.Repeat([]byte("é"), 200)) + ".txt")
	assert.LessOrEqual(t, len(long), maxNameBytes)
	assert.Equal(t, ".txt", filepath.Ext(long))
}

// TestDefaultTmpDir: without -tmp, files arrive in <dir>/.tmp (so saving is
// a rename), which is hidden from the list, and emptied of what a killed
// process left behind.
func TestDefaultTmpDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".tmp"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".tmp", "leftover"), []byte("x"), 0o600))
	app := startApp(t, "-dir", dir, "-tmp", "")
	assert.Empty(t, dirNames(t, filepath.Join(dir, ".tmp")), "leftovers are removed at start")
	data := randomBytes(t, 200<<10)
	saved := upload(t, app.base, "", part{field: "file", name: "x.bin", data: data})
	assert.Equal(t, sha(data), saved[0].SHA256)
	files := list(t, app.base)
	require.Len(t, files, 1)
	assert.Equal(t, "x.bin", files[0].Name)
	require.NoError(t, app.stop())
	assert.Empty(t, dirNames(t, filepath.Join(dir, ".tmp")))
	assert.Equal(t, []string{".sha256", ".tmp", "x.bin"}, dirNames(t, dir))
}

// TestSharedDirectory: two instances on one -dir (the workers of -procs,
// or instances behind a proxy) each list, serve and delete what the other
// saved, with its SHA-256; and a restarted instance still knows the hashes.
func TestSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	a := startApp(t, "-dir", dir)
	b := startApp(t, "-dir", dir)
	data := randomBytes(t, 200<<10)
	saved := upload(t, a.base, "", part{field: "file", name: "shared.bin", data: data})
	require.Len(t, saved, 1)

	listed := list(t, b.base)
	require.Len(t, listed, 1, "the other instance lists the file")
	assert.Equal(t, "shared.bin", listed[0].Name)
	assert.Equal(t, sha(data), listed[0].SHA256, "with the hash its saver computed")
	status, _, body := do(t, newRequest(t, "GET", b.base+"/files/shared.bin", nil))
	require.Equal(t, http.StatusOK, status)
	assert.True(t, bytes.Equal(data, body))

	// Found on disk by a fresh instance: the hash is still known.
	c := startApp(t, "-dir", dir)
	listed = list(t, c.base)
	require.Len(t, listed, 1)
	assert.Equal(t, sha(data), listed[0].SHA256, "the hash survives a restart")

	// Deleted through b: gone for a, hash included.
	status, _, _ = do(t, newRequest(t, "DELETE", b.base+"/files/shared.bin", nil))
	require.Equal(t, http.StatusNoContent, status)
	assert.Empty(t, list(t, a.base))
	status, _, _ = do(t, newRequest(t, "GET", a.base+"/files/shared.bin", nil))
	assert.Equal(t, http.StatusNotFound, status)
	assert.Empty(t, dirNames(t, filepath.Join(dir, sumDirName)), "the hash went with the file")

	// Hidden files stay out of reach, also after a refresh.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".secret"), []byte("x"), 0o600))
	assert.Empty(t, list(t, a.base))
	status, _, _ = do(t, newRequest(t, "GET", a.base+"/files/.secret", nil))
	assert.Equal(t, http.StatusBadRequest, status)
	status, _, _ = do(t, newRequest(t, "GET", a.base+"/files/.sha256", nil))
	assert.Equal(t, http.StatusBadRequest, status)
}
