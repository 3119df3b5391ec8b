package httpevtest_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/httpev/httpev"
	"github.com/httpev/httpev/httpevtest"
	"github.com/httpev/httpev/internal/leakcheck"
)

// TestMain fails the run if server or bridge goroutines, or open file
// descriptors, outlive the tests.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/httpev/httpev"))
}

func threadingModes(t *testing.T, f func(t *testing.T, lo httpev.ListenOptions)) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			f(t, httpev.ListenOptions{Threading: threading})
		})
	}
}

func withUser(r *http.Request, user string) *http.Request {
	r.AddCookie(&http.Cookie{Name: "user", Value: user})
	return r
}

// TestLoginApp is the table-driven test of an application callback that
// httpevtest exists for.
func TestLoginApp(t *testing.T) {
	threadingModes(t, func(t *testing.T, lo httpev.ListenOptions) {
		h := httpevtest.New(t, loginApp(map[string]string{"ann": "s3cret", "bob": "hunter2"}),
			httpevtest.WithListenOptions(lo))
		avatar := httpevtest.Upload{Field: "avatar", Name: "a.png", Content: []byte("png!")}
		for _, tc := range []struct {
			name     string
			req      *http.Request
			status   int
			body     string
			cookie   string
			location string
		}{
			{"form", httptest.NewRequest("GET", "/", nil), 200, `<form method="post"`, "", ""},
			{"login", httpevtest.NewForm("/login", url.Values{"user": {"bob"}, "password": {"hunter2"}}), 303, "", "user=bob; path=/", "/"},
			{"wrong password", httpevtest.NewForm("/login", url.Values{"user": {"bob"}, "password": {"s3cret"}}), 401, "wrong user", "", ""},
			{"unknown user", httpevtest.NewForm("/login", url.Values{"user": {"eve"}, "password": {""}}), 401, "wrong user", "", ""},
			{"login by GET", httptest.NewRequest("GET", "/login?user=bob&password=hunter2", nil), 401, "wrong user", "", ""},
			{"greeting", withUser(httptest.NewRequest("GET", "/", nil), "ann"), 200, "hello ann\n", "", ""},
			{"avatar", withUser(httpevtest.NewMultipart("/avatar", nil, avatar), "ann"), 200, "ann uploaded a.png (4 bytes)\n", "", ""},
			{"two avatars", withUser(httpevtest.NewMultipart("/avatar", nil, avatar, avatar), "ann"), 400, "send one avatar\n", "", ""},
			{"avatar logged out", httpevtest.NewMultipart("/avatar", nil, avatar), 401, "log in first\n", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := h.Do(tc.req)
				assert.Equal(t, tc.status, res.Status)
				assert.Contains(t, res.Text(), tc.body)
				assert.Equal(t, tc.cookie, res.Header.Get("Set-Cookie"))
				assert.Equal(t, tc.location, res.Header.Get("Location"))
			})
		}
	})
}

func TestHarnessFiles(t *testing.T) {
	threadingModes(t, func(t *testing.T, lo httpev.ListenOptions) {
		keep := t.TempDir()
		var mu sync.Mutex
		var progress int
		lo.OnFileWrite = func(c *httpev.CGI, f *httpev.MultipartFile, chunk []byte) {
			mu.Lock()
			progress++
			mu.Unlock()
		}
		h := httpevtest.New(t, func(c *httpev.CGI) {
			for _, f := range c.File("keep") {
				if err := f.Save(filepath.Join(keep, f.Name())); err != nil {
					c.Printf("save: %v\n", err)
				}
			}
			c.Printf("%d files\n", len(c.Files()))
		}, httpevtest.WithListenOptions(lo))

		big := make([]byte, 5<<20+3)
		_, _ = rand.Read(big)
		res := h.Do(httpevtest.NewMultipart("/up", url.Values{"a": {"1"}},
			httpevtest.Upload{Field: "tmp", Name: "big.bin", Body: bytes.NewReader(big)},
			httpevtest.Upload{Field: "keep", Name: "k.txt", ContentType: "text/plain", Content: []byte("kept")},
		))
		require.Equal(t, 200, res.Status, res.Text())
		assert.Equal(t, "2 files\n", res.Text())
		require.Len(t, res.Files, 2)
		assert.Equal(t, httpevtest.File{Field: "tmp", Name: "big.bin", RawName: "big.bin",
			ContentType: "application/octet-stream", Size: int64(len(big)), Content: big}, res.Files[0])
		assert.Equal(t, "kept", string(res.Files[1].Content))
		assert.Equal(t, filepath.Join(keep, "k.txt"), res.Files[1].SavedTo)
		saved, err := os.ReadFile(filepath.Join(keep, "k.txt"))
		require.NoError(t, err)
		assert.Equal(t, "kept", string(saved))
		mu.Lock()
		assert.Greater(t, progress, 10, "OnFileWrite runs per chunk")
		mu.Unlock()
		entries, _ := os.ReadDir(h.Server().TmpPath())
		assert.Empty(t, entries)
	})
}

func TestHarnessClientView(t *testing.T) {
	h := httpevtest.New(t, func(c *httpev.CGI) {
		c.Printf("%s %s %s https=%s", c.Env("REMOTE_ADDR"), c.Env("REMOTE_PORT"), c.Env("SERVER_NAME"), c.Env("HTTPS"))
	})
	assert.Equal(t, "192.0.2.1 1234 example.com https=", h.Get("/").Text(), "httptest's defaults")

	req := httptest.NewRequest("GET", "https://shop.test/cart", nil)
	req.RemoteAddr = "[2001:db8::7]:4430"
	req.TLS = &tls.ConnectionState{}
	assert.Equal(t, "2001:db8::7 4430 shop.test https=on", h.Do(req).Text())
}

func TestHarnessDroppedAndPanics(t *testing.T) {
	h := httpevtest.New(t, func(c *httpev.CGI) {
		switch c.Path() {
		case "/drop":
			c.Drop()
		case "/panic":
			panic("boom")
		}
	}, httpevtest.WithOptions(httpev.Options{Logger: quiet()}))
	res := h.Get("/drop")
	assert.True(t, res.Dropped)
	assert.Equal(t, 0, res.Status)
	res = h.Get("/panic")
	assert.False(t, res.Dropped)
	assert.Equal(t, 500, res.Status, "the engine answers a panic with 500")
}

func TestHarnessLimits(t *testing.T) {
	h := httpevtest.New(t, func(c *httpev.CGI) { c.Print("never") },
		httpevtest.WithOptions(httpev.Options{MaxFileSize: 1000, Logger: quiet()}))
	res := h.Do(httpevtest.NewMultipart("/", nil, httpevtest.Upload{Field: "f", Name: "f", Content: make([]byte, 5000)}))
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.Status)
	assert.Empty(t, res.Files, "the callback never ran")
}

// TestHarnessReportsLeftovers checks that a file left in the harness's
// temp directory is reported when the harness closes.
func TestHarnessReportsLeftovers(t *testing.T) {
	h := httpevtest.New(nil, func(c *httpev.CGI) {})
	tmp := h.Server().TmpPath()
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "stray"), nil, 0o600))
	err := h.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stray")
	_, statErr := os.Stat(tmp)
	assert.True(t, os.IsNotExist(statErr), "the directory is removed anyway")
}

// quiet drops the server's log lines, for tests that provoke errors.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
