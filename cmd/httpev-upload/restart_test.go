//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Zero-downtime restarts, with the app as real processes: SIGHUP starts
// the binary again on the same socket (restart.go); every generation after
// the first is the child of the one before, so the test process makes
// itself a subreaper to reap them all and read their peak memory.

// procs is the app's generations, started and reaped by the test.
type procs struct {
	t       *testing.T
	dir     string // -dir
	tmp     string // -tmp
	pidFile string
	base    string // http://127.0.0.1:port
	out     *os.File
	mu      sync.Mutex
	exited  map[int]*procWait
}

// procWait is one generation's reaping: done closes once it has exited.
type procWait struct {
	done chan struct{}
	exit procExit
}

type procExit struct {
	status syscall.WaitStatus
	// maxRSS is the generation's peak resident memory (VmHWM) read just
	// before it was signalled, in KiB. Not wait4's ru_maxrss: execve
	// keeps the high-water mark of the process that forked, so the first
	// generation's would be the test process's.
	maxRSS int64
	err    error // it could not be reaped
}

// peakRSS reads pid's VmHWM in KiB (0 if unreadable).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// buildApp builds the app into a temp directory.
func buildApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "httpev-upload")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

var servingAt = regexp.MustCompile(`serving .* on (http://[^/ ]+)/`)

// startProcs starts the first generation and waits until it serves.
func startProcs(t *testing.T, bin string, extra ...string) *procs {
	t.Helper()
	// PR_SET_CHILD_SUBREAPER: orphaned generations become our children.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, 36, 1, 0); e != 0 {
		t.Skipf("cannot become a subreaper: %v", e)
	}
	p := &procs{t: t, dir: t.TempDir(), tmp: t.TempDir(), exited: map[int]*procWait{}}
	p.pidFile = filepath.Join(t.TempDir(), "pid")
	var err error
	p.out, err = os.Create(filepath.Join(t.TempDir(), "out.log"))
	require.NoError(t, err)
	args := append([]string{"-addr", "127.0.0.1:0", "-dir", p.dir, "-tmp", p.tmp, "-pid-file", p.pidFile, "-grace", "60s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	// The test reaps every generation itself (watch), by pid: the first
	// one's handle (a pidfd) is let go rather than left open.
	require.NoError(t, cmd.Process.Release())
	p.watch(pid)
	t.Cleanup(p.cleanup)
	require.Eventually(t, func() bool {
		m := servingAt.FindStringSubmatch(p.log())
		if m != nil {
			p.base = m[1]
		}
		return m != nil && p.pid() == pid
	}, 30*time.Second, 10*time.Millisecond, "the app did not start:\n%s", p.log())
	return p
}

// watch reaps pid in the background.
func (p *procs) watch(pid int) *procWait {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.exited[pid]; ok {
		return w
	}
	w := &procWait{done: make(chan struct{})}
	p.exited[pid] = w
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err == syscall.ECHILD && syscall.Kill(pid, 0) == nil {
				// Not ours yet: its parent, the previous generation,
				// still runs; once that exits it is reparented to us.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if err == nil {
				w.exit.status = ws
				break
			}
			if err != syscall.EINTR {
				w.exit.status, w.exit.err = syscall.WaitStatus(0xff00), err // not reaped: no status
				break
			}
		}
		close(w.done)
	}()
	return w
}

// wait waits up to d for w's process to exit.
func (w *procWait) wait(d time.Duration) (procExit, bool) {
	select {
	case <-w.done:
		return w.exit, true
	case <-time.After(d):
		return procExit{}, false
	}
}

func (p *procs) log() string {
	b, _ := os.ReadFile(p.out.Name())
	return string(b)
}

// pid is the serving generation's, from the PID file (0 before one).
func (p *procs) pid() int {
	b, _ := os.ReadFile(p.pidFile)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// restart sends SIGHUP and waits until the new generation serves and the
// old one has exited; it returns the old one's exit.
func (p *procs) restart() procExit {
	t := p.t
	old := p.pid()
	oldExit := p.watch(old)
	rss := peakRSS(old)
	require.NoError(t, syscall.Kill(old, syscall.SIGHUP))
	start := time.Now()
	require.Eventually(t, func() bool { n := p.pid(); return n != 0 && n != old }, 30*time.Second, 5*time.Millisecond,
		"no new generation:\n%s", p.log())
	ready := time.Since(start)
	p.watch(p.pid())
	e, ok := oldExit.wait(60 * time.Second)
	if !ok {
		t.Fatalf("generation %d did not exit:\n%s", old, p.log())
	}
	e.maxRSS = rss
	if took := time.Since(start); took > 3*time.Second {
		t.Logf("slow restart of %d: new generation ready after %v, old one exited after %v", old, ready, took)
	}
	return e
}

// stop sends SIGTERM to the serving generation and waits for its exit.
func (p *procs) stop() procExit {
	pid := p.pid()
	w := p.watch(pid)
	rss := peakRSS(pid)
	require.NoError(p.t, syscall.Kill(pid, syscall.SIGTERM))
	e, ok := w.wait(60 * time.Second)
	if !ok {
		p.t.Fatalf("%d did not exit after SIGTERM", pid)
	}
	e.maxRSS = rss
	return e
}

// cleanup kills whatever generation is left.
func (p *procs) cleanup() {
	p.mu.Lock()
	var pending []int
	for pid, w := range p.exited {
		select {
		case <-w.done:
		default:
			pending = append(pending, pid)
		}
	}
	p.mu.Unlock()
	for _, pid := range pending {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if _, ok := p.watch(pid).wait(10 * time.Second); !ok {
			p.t.Errorf("generation %d not reaped after SIGKILL", pid)
		}
	}
	_ = p.out.Close()
	if p.t.Failed() {
		p.t.Logf("app output:\n%s", p.log())
	}
}

// loadStats is what the client loop saw.
type loadStats struct {
	gets, uploads, failures atomic.Int64
	mu                      sync.Mutex
	errs                    []string
	saved                   map[string]string // saved name -> SHA-256 sent
}

func (s *loadStats) fail(format string, args ...any) {
	s.failures.Add(1)
	s.mu.Lock()
	if len(s.errs) < 10 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

// noRetry is a request body that makes a GET unreplayable: Go's transport
// would otherwise resend a GET that failed on a reused connection, and
// hide exactly the failures this test counts.
type noRetry struct{}

func (noRetry) Read([]byte) (int, error) { return 0, io.EOF }
func (noRetry) Close() error             { return nil }

// clientLoop runs GETs and 8 MiB uploads until ctx ends.
func clientLoop(ctx context.Context, base string, worker int, data []byte, st *loadStats) {
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	c := &http.Client{Timeout: 60 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		req, _ := http.NewRequest("GET", base+"/files", noRetry{})
		req.ContentLength = 0
		resp, err := c.Do(req)
		if err != nil {
			st.fail("GET: %v", err)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			st.fail("GET: %d %v", resp.StatusCode, err)
			continue
		}
		st.gets.Add(1)

		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		fw, _ := w.CreateFormFile("file", fmt.Sprintf("w%d-%d.bin", worker, i))
		_, _ = fw.Write(data)
		_ = w.Close()
		resp, err = c.Post(base+"/files", w.FormDataContentType(), &body)
		if err != nil {
			st.fail("upload: %v", err)
			continue
		}
		var got listing
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(got.Files) != 1 {
			st.fail("upload: %d %v %+v", resp.StatusCode, err, got)
			continue
		}
		if got.Files[0].SHA256 != want || got.Files[0].Size != int64(len(data)) {
			st.fail("upload: sha256 %s size %d, want %s", got.Files[0].SHA256, got.Files[0].Size, want)
			continue
		}
		st.mu.Lock()
		st.saved[got.Files[0].Name] = want
		st.mu.Unlock()
		st.uploads.Add(1)
	}
}

// TestRestartUnderLoad: GETs and 8 MiB uploads from 4 clients through 3
// SIGHUP restarts: no request fails, every upload arrives whole (its
// SHA-256, as computed while it arrived and as stored on disk), no temp
// file is left, every old generation exits 0.
func TestRestartUnderLoad(t *testing.T) {
	bin := buildApp(t)
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			p := startProcs(t, bin, fmt.Sprint("-threading=", threading))
			st := &loadStats{saved: map[string]string{}}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for w := range 4 {
				data := randomBytes(t, 8<<20)
				wg.Go(func() { clientLoop(ctx, p.base, w, data, st) })
			}
			time.Sleep(time.Second)
			var rss, took []string
			for range 3 {
				start := time.Now()
				e := p.restart()
				took = append(took, time.Since(start).Round(time.Millisecond).String())
				assert.True(t, e.err == nil && e.status.Exited() && e.status.ExitStatus() == 0, "old generation: %v %v", e.status, e.err)
				rss = append(rss, fmt.Sprintf("%.1f", float64(e.maxRSS)/1024))
				time.Sleep(time.Second)
			}
			cancel()
			wg.Wait()
			e := p.stop()
			assert.True(t, e.err == nil && e.status.Exited() && e.status.ExitStatus() == 0, "last generation: %v %v", e.status, e.err)
			rss = append(rss, fmt.Sprintf("%.1f", float64(e.maxRSS)/1024))

			t.Logf("3 restarts (SIGHUP to old exit: %s): %d GETs, %d uploads of 8 MiB, %d failed; peak RSS per generation (MiB): %s",
				strings.Join(took, ", "), st.gets.Load(), st.uploads.Load(), st.failures.Load(), strings.Join(rss, ", "))
			assert.Zero(t, st.failures.Load(), "failures: %v", st.errs)
			assert.Greater(t, st.uploads.Load(), int64(8))
			assert.Empty(t, dirNames(t, p.tmp), "temp files left")
			for name, want := range st.saved {
				b, err := os.ReadFile(filepath.Join(p.dir, name))
				require.NoError(t, err)
				s := sha256.Sum256(b)
				assert.Equal(t, want, hex.EncodeToString(s[:]), "stored %s", name)
			}
		})
	}
}

// wrkResult is what wrk reported.
type wrkResult struct {
	requests                       int
	connect, read, write, timeouts int
	non2xx                         int
	out                            string
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkErrors   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk runs wrk (keep-alive, 50 connections, no retries: wrk has none)
// for d and parses its summary.
func runWrk(t *testing.T, url string, d time.Duration) <-chan wrkResult {
	t.Helper()
	ch := make(chan wrkResult, 1)
	cmd := exec.Command("wrk", "-t2", "-c50", "-d"+strconv.Itoa(int(d/time.Second))+"s", url)
	go func() {
		out, _ := cmd.CombinedOutput()
		r := wrkResult{out: string(out)}
		atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
		if m := wrkRequests.FindStringSubmatch(r.out); m != nil {
			r.requests = atoi(m[1])
		}
		if m := wrkErrors.FindStringSubmatch(r.out); m != nil {
			r.connect, r.read, r.write, r.timeouts = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])
		}
		if m := wrkNon2xx.FindStringSubmatch(r.out); m != nil {
			r.non2xx = atoi(m[1])
		}
		ch <- r
	}()
	return ch
}

func needWrk(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (Debian package wrk; .ci/run installs it)")
	}
}

// TestRestartWrk: wrk -c50 keeps 50 keep-alive connections busy through 3
// SIGHUP restarts, in both threading modes and with -procs 2 (the
// supervisor restarts; its workers are replaced); the listening socket
// stays open throughout, so every error would be the server's: none may
// occur.
func TestRestartWrk(t *testing.T) {
	needWrk(t)
	bin := buildApp(t)
	for _, args := range [][]string{{"-threading=false"}, {"-threading=true"}, {"-procs=2"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			p := startProcs(t, bin, args...)
			res := runWrk(t, p.base+"/files", 8*time.Second)
			time.Sleep(1500 * time.Millisecond)
			for range 3 {
				p.restart()
				time.Sleep(500 * time.Millisecond)
			}
			r := <-res
			p.stop()
			t.Logf("wrk -c50 through 3 restarts: %d requests; errors: connect %d, read %d, write %d, timeout %d; non-2xx %d",
				r.requests, r.connect, r.read, r.write, r.timeouts, r.non2xx)
			require.NotZero(t, r.requests, "wrk output:\n%s", r.out)
			assert.Zero(t, r.connect+r.read+r.write+r.timeouts+r.non2xx, "wrk output:\n%s", r.out)
		})
	}
}

// shutdownLoad is a wrk-like load of 50 keep-alive connections that tells
// the two ways a request is lost when the server stops: on a connection
// that had served requests (kept alive, closed under the request), or on a
// fresh one (accepted by the kernel into the listening socket's queue, then
// reset when the socket closed).
type shutdownLoad struct {
	served, keptLost, freshLost, refused atomic.Int64
}

func (s *shutdownLoad) run(ctx context.Context, addr string) {
	var conn net.Conn
	var br *bufio.Reader
	onConn := 0
	drop := func() {
		if conn != nil {
			conn.Close()
		}
		conn, onConn = nil, 0
	}
	defer drop()
	for ctx.Err() == nil {
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				s.refused.Add(1)
				time.Sleep(5 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReader(c)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := io.WriteString(conn, "GET /files HTTP/1.1\r\nHost: x\r\n\r\n")
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(br, nil)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			if onConn > 0 {
				s.keptLost.Add(1)
			} else {
				s.freshLost.Add(1)
			}
			drop()
			continue
		}
		s.served.Add(1)
		onConn++
		if resp.Close {
			drop()
		}
	}
}

// TestShutdownLosses measures what SIGTERM alone costs under keep-alive
// load, with the two causes apart. A request on a kept-alive connection
// must never be lost (the drain window answers it with Connection: close);
// connections reset in the accept queue when the socket closes are the
// kernel's and are only reported (docs/deploy.md). wrk's own figure is
// reported beside.
func TestShutdownLosses(t *testing.T) {
	bin := buildApp(t)
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			p := startProcs(t, bin, fmt.Sprint("-threading=", threading))
			addr := strings.TrimPrefix(p.base, "http://")
			var load shutdownLoad
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() { load.run(ctx, addr) })
			}
			time.Sleep(1500 * time.Millisecond)
			start := time.Now()
			e := p.stop()
			took := time.Since(start)
			time.Sleep(200 * time.Millisecond) // every client has met the closed socket
			cancel()
			wg.Wait()
			t.Logf("SIGTERM under 50 keep-alive clients: %d served; lost on kept-alive connections %d, "+
				"lost on fresh connections (reset in the accept queue) %d; %d connects refused afterwards; shutdown took %v, peak RSS %.1f MiB",
				load.served.Load(), load.keptLost.Load(), load.freshLost.Load(), load.refused.Load(),
				took.Round(time.Millisecond), float64(e.maxRSS)/1024)
			assert.True(t, e.err == nil && e.status.Exited() && e.status.ExitStatus() == 0, "%v %v", e.status, e.err)
			assert.Zero(t, load.keptLost.Load(), "a request on a kept-alive connection was lost")

			if _, err := exec.LookPath("wrk"); err == nil {
				p := startProcs(t, bin, fmt.Sprint("-threading=", threading))
				res := runWrk(t, p.base+"/files", 4*time.Second)
				time.Sleep(1500 * time.Millisecond)
				p.stop()
				r := <-res
				t.Logf("wrk -c50, SIGTERM: %d requests; errors: connect %d, read %d, write %d, timeout %d",
					r.requests, r.connect, r.read, r.write, r.timeouts)
			}
		})
	}
}
