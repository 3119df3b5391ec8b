// Package e2e drives httpev programs as built binaries from outside: in a
// real browser, and deployed as docs/deploy.md shows (behind a real nginx,
// with -procs, under systemd-socket-activate). It is a module of its own so
// that the browser driver (chromedp) and the WebSocket client never enter
// the library's go.mod; e2e/run.sh installs Chromium and runs it, .ci/run
// also installs nginx and systemd's tools.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium package, the browser CI installs.
const chromiumPath = "/usr/bin/chromium"

var updateDocs = flag.Bool("update-docs", false, "also copy the screenshot to ../docs/upload.png for the README")

// TestUploadPageInChromium opens the upload app's page in headless
// Chromium, uploads two files through the real file input, and waits until
// the page lists both with the SHA-256 the server computed while they
// arrived, and shows that the server's own progress (OnFileWrite, streamed
// as Server-Sent Events) reached the page. The app runs as the real binary,
// built with the race detector, in both threading modes, and is stopped
// with SIGINT while the page still holds its progress stream open.
func TestUploadPageInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: install Debian's chromium (apt-get install -y chromium, or run e2e/run.sh) to run the browser test", chromiumPath)
	}
	bin := buildApp(t)
	for i, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			uploadInBrowser(t, bin, threading, i == 0)
		})
	}
}

func uploadInBrowser(t *testing.T, bin string, threading, screenshot bool) {
	src := t.TempDir()
	photo := randomBytes(t, 1800<<10)
	notes := []byte("Meeting notes\n\n- ship the upload app\n- screenshot for the README\n")
	files := map[string][]byte{"photo.jpg": photo, "notes.txt": notes}
	var paths []string
	for name, data := range files {
		p := filepath.Join(src, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		paths = append(paths, p)
	}
	app := startApp(t, bin, fmt.Sprint("-threading=", threading))

	ctx := browser(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1100, 860),
		chromedp.Navigate(app.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#live.on")), // the progress stream is open
		chromedp.SetUploadFiles(chromedp.CSS("#picker"), paths),
	))
	for name, data := range files {
		sum := sha(data)
		require.NoError(t, chromedp.Do(ctx,
			// The list, rendered from GET /files, shows the file with its hash...
			chromedp.WaitVisible(chromedp.CSS(`#files tr[data-name="`+name+`"][data-sha256="`+sum+`"]`)),
			// ...and the server's progress events reached the page: the last one
			// reports every byte on disk.
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.job.done[data-name="%s"][data-server-bytes="%d"]`, name, len(data)))),
		), "waiting for %s in the page", name)
		shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#files tr[data-name="`+name+`"] code.sha`)))
		require.NoError(t, err)
		assert.Equal(t, sum, strings.TrimSpace(shown), "SHA-256 shown for %s", name)
	}

	// The server agrees, and serves the same bytes back.
	var listed struct {
		Files []struct{ Name, SHA256, URL string }
	}
	getJSON(t, app.base+"/files", &listed)
	require.Len(t, listed.Files, 2)
	for _, f := range listed.Files {
		assert.Equal(t, sha(files[f.Name]), f.SHA256, f.Name)
		resp, err := http.Get(app.base + f.URL)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, sha(files[f.Name]), sha(got), "download of %s", f.Name)
	}

	if screenshot {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(filepath.Join("testdata", "upload.png"), png, 0o644))
		if *updateDocs {
			require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "upload.png"), png, 0o644))
		}
	}

	// SIGINT with the page still open: its progress stream must not hold
	// the shutdown up.
	app.interrupt(t)
	assert.Empty(t, dirNames(t, app.tmp), "temp dir is empty after shutdown")
	saved := dirNames(t, app.dir)
	assert.ElementsMatch(t, []string{".sha256", "photo.jpg", "notes.txt"}, saved, "the files, and their hashes kept beside them")
}

// browser starts headless Chromium with a fresh profile and returns a
// context for driving one tab; everything is torn down with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers often have a tiny /dev/shm
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// buildApp builds the upload app from this checkout with the race
// detector, so races under real browser traffic fail the test too.
func buildApp(t *testing.T) string {
	t.Helper()
	return goBuildApp(t, "-race")
}

// goBuildApp builds the upload app from this checkout, with flags.
func goBuildApp(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "httpev-upload")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = "../cmd/httpev-upload" // the app's module, built against this checkout's library
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// runningApp is the upload app as a child process.
type runningApp struct {
	base     string
	dir, tmp string
	cmd      *exec.Cmd
	out      *lockedBuffer
	exited   chan struct{} // closed once the process has been waited for
	err      error         // its exit status, set before exited closes
}

var servingLine = regexp.MustCompile(`serving .* on (https?://[^/ ]+)/`)

func startApp(t *testing.T, bin string, extra ...string) *runningApp {
	t.Helper()
	a := &runningApp{dir: t.TempDir(), tmp: t.TempDir(), out: &lockedBuffer{}, exited: make(chan struct{})}
	args := append([]string{"-addr", "127.0.0.1:0", "-dir", a.dir, "-tmp", a.tmp}, extra...)
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stderr = a.out
	stdout, err := a.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, a.cmd.Start())
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			a.out.WriteString(line + "\n")
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select { // the first: with -procs, workers print theirs too
				case base <- m[1]:
				default:
				}
			}
		}
		a.err = a.cmd.Wait()
		close(a.exited)
	}()
	select {
	case a.base = <-base:
	case <-a.exited:
		t.Fatalf("upload app exited before serving: %v\n%s", a.err, a.out.String())
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Fatalf("upload app did not start\n%s", a.out.String())
	}
	t.Cleanup(func() {
		select {
		case <-a.exited:
		default:
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
		if t.Failed() {
			t.Logf("upload app output:\n%s", a.out.String())
		}
	})
	return a
}

// interrupt sends SIGINT and requires a clean, race-free exit.
func (a *runningApp) interrupt(t *testing.T) {
	t.Helper()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-a.exited:
		require.NoError(t, a.err, "exit status after SIGINT\n%s", a.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("upload app still running 30s after SIGINT\n%s", a.out.String())
	}
	assert.NotContains(t, a.out.String(), "DATA RACE")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
