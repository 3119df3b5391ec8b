package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
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

// TestNginxInFront runs a real nginx with the configuration docs/deploy.md
// shows, in front of two upload-app processes, all on loopback.
func TestNginxInFront(t *testing.T) {
	nginx := findNginx(t)
	// Not built with -race: the race detector multiplies memory, and this
	// test measures memory. The browser test covers races.
	bin := goBuildApp(t)
	a := startApp(t, bin, "-trusted-proxies", "127.0.0.1")
	b := startApp(t, bin, "-trusted-proxies", "127.0.0.1")
	front := startNginx(t, nginx, frontConf(t, hostPort(a.base), hostPort(b.base)))
	apps := map[int]*runningApp{a.cmd.Process.Pid: a, b.cmd.Process.Pid: b}

	// The client comes from 127.0.0.2 and nginx from 127.0.0.1, so the
	// address httpev reports tells the two apart.
	client := clientFrom("127.0.0.2")

	t.Run("spread and client address", func(t *testing.T) {
		served := map[int]int{}
		for range 20 {
			req, err := http.NewRequest("GET", front+"/echo", nil)
			require.NoError(t, err)
			req.Header.Set("X-Real-IP", "203.0.113.9") // nginx must overwrite it
			rep := getEcho(t, client, req)
			served[rep.PID]++
			assert.Equal(t, "127.0.0.2", rep.Env["REMOTE_ADDR"], "REMOTE_ADDR is the client's, from nginx's X-Real-IP")
		}
		t.Logf("20 requests through nginx, served per process: %v", served)
		require.Len(t, served, 2, "requests reach both instances")
		for pid, n := range served {
			assert.Contains(t, apps, pid)
			assert.GreaterOrEqual(t, n, 5, "round robin spreads requests evenly")
		}

		// A client going around nginx cannot choose its address.
		req, err := http.NewRequest("GET", a.base+"/echo", nil)
		require.NoError(t, err)
		req.Header.Set("X-Real-IP", "203.0.113.9")
		rep := getEcho(t, clientFrom("127.0.0.3"), req)
		assert.Equal(t, "127.0.0.3", rep.Env["REMOTE_ADDR"], "X-Real-IP from an untrusted peer is ignored")
	})

	t.Run("256 MiB upload with progress", func(t *testing.T) {
		const size = 256 * mib
		events, connected := progressStream(t, client, front+"/progress?id=big")
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			t.Fatal("the progress stream did not open through nginx")
		}
		var sentSum string
		start := time.Now()
		resp := postLargeFile(t, client, front+"/files?id=big&key=k1", size, &sentSum)
		uploaded := time.Now()
		var saved struct {
			Files []struct {
				Name   string
				Size   int64
				SHA256 string
			}
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&saved))
		resp.Body.Close()
		require.Len(t, saved.Files, 1)
		assert.Equal(t, int64(size), saved.Files[0].Size)
		assert.Equal(t, sentSum, saved.Files[0].SHA256, "the SHA-256 the server computed while the file arrived")
		t.Logf("256 MiB through nginx in %v (%.0f MB/s)", uploaded.Sub(start).Round(time.Millisecond),
			float64(size)/1e6/uploaded.Sub(start).Seconds())

		// Progress: events before the upload's answer, reporting bytes on
		// disk part of the way, then one reporting all of them.
		var during int
		var last progressSeen
		deadline := time.Now().Add(10 * time.Second)
		for !last.Done && time.Now().Before(deadline) {
			select {
			case ev := <-events:
				if ev.at.Before(uploaded) && ev.Bytes > 0 && ev.Bytes < size {
					during++
				}
				last = ev
			case <-time.After(time.Until(deadline)):
			}
		}
		t.Logf("progress events received while the upload ran: %d", during)
		assert.GreaterOrEqual(t, during, 3, "progress events arrive through nginx while the upload runs")
		assert.Equal(t, int64(size), last.Bytes, "the last progress event reports every byte")
		assert.True(t, last.Done)

		// Memory: nothing held the body. Peak RSS of every process on the
		// path, each far below the 256 MiB that went through.
		for pid, app := range apps {
			rss := peakRSS(t, pid)
			t.Logf("httpev-upload %s (pid %d): peak RSS %.1f MiB", app.base, pid, float64(rss)/mib)
			assert.Less(t, rss, int64(64*mib), "httpev-upload's peak memory after a 256 MiB upload")
		}
		for _, pid := range nginxPIDs(t) {
			rss := peakRSS(t, pid)
			t.Logf("nginx pid %d: peak RSS %.1f MiB", pid, float64(rss)/mib)
			assert.Less(t, rss, int64(32*mib), "nginx's peak memory after a 256 MiB upload")
		}
	})

	t.Run("stop one instance under load", func(t *testing.T) {
		const clients = 8
		var stop atomic.Bool
		var gets, getFails, posts, postFails atomic.Int64
		var mu sync.Mutex
		var failures []string
		servedAfter := map[int]int{}
		var stopped atomic.Bool
		var wg sync.WaitGroup
		for i := range clients {
			c := clientFrom("127.0.0.2")
			wg.Go(func() {
				for n := 0; !stop.Load(); n++ {
					post := n%4 == 3
					after := stopped.Load() // sent once the instance had exited
					var resp *http.Response
					var err error
					if post {
						posts.Add(1)
						resp, err = c.PostForm(front+"/echo", url.Values{"client": {fmt.Sprint(i)}})
					} else {
						gets.Add(1)
						resp, err = c.Get(front + "/echo")
					}
					var rep echoReply
					if err == nil {
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("status %s", resp.Status)
						} else {
							err = json.NewDecoder(resp.Body).Decode(&rep)
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if err != nil {
						if post {
							postFails.Add(1)
						} else {
							getFails.Add(1)
						}
						mu.Lock()
						failures = append(failures, fmt.Sprintf("post=%v: %v", post, err))
						mu.Unlock()
						continue
					}
					if after {
						mu.Lock()
						servedAfter[rep.PID]++
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
		select {
		case <-a.exited:
		case <-time.After(30 * time.Second):
			t.Fatal("instance did not stop within 30 s of SIGTERM")
		}
		stopped.Store(true)
		time.Sleep(500 * time.Millisecond)
		stop.Store(true)
		wg.Wait()

		t.Logf("client loop through nginx while one instance stopped (SIGTERM): %d GETs (%d failed), %d POSTs (%d failed); after the stop, served per process: %v",
			gets.Load(), getFails.Load(), posts.Load(), postFails.Load(), servedAfter)
		assert.NoError(t, a.err, "the stopped instance exits cleanly")
		assert.Zero(t, getFails.Load()+postFails.Load(), "no request lost: %v", failures)
		assert.Equal(t, []int{b.cmd.Process.Pid}, keys(servedAfter), "requests sent after the stop all reach the other instance")
		assert.Positive(t, gets.Load())
	})
}

// findNginx returns nginx's path or skips the test.
func findNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} { // sbin is not on every user's PATH
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("nginx not found: install it (apt-get install -y nginx-light, as .ci/run does) to run the reverse-proxy test")
	return ""
}

// nginxRun is the nginx started by startNginx.
var nginxRun struct {
	mu     sync.Mutex
	master int
}

// frontConf is docs/deploy.md's nginx configuration in front of the two
// backends.
func frontConf(t *testing.T, backendA, backendB string) string {
	t.Helper()
	conf := docBlock(t, "nginx-conf")
	conf = replaceOnce(t, conf, "server 127.0.0.1:8081;", "server "+backendA+";")
	return replaceOnce(t, conf, "server 127.0.0.1:8082;", "server "+backendB+";")
}

// startNginx runs nginx with conf (a frontConf) on a free loopback port in
// a temp prefix and returns its base URL. The process group is killed when
// the test ends, whatever happened.
func startNginx(t *testing.T, nginx, conf string) string {
	t.Helper()
	port := freePort(t)
	conf = replaceOnce(t, conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port))

	prefix := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers must reach the temp prefix, which is root's alone
	}
	tmp := func(name string) string { return filepath.Join(prefix, name) }
	// The main file is the test's (nginx.conf of a distribution holds the
	// same); the server configuration is the doc's, included as is.
	main := fmt.Sprintf(`daemon off;
%s
worker_processes 1;
pid %s;
error_log %s info;
events { worker_connections 512; }
http {
    access_log %s;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    include %s;
}
`, user, tmp("nginx.pid"), tmp("error.log"), tmp("access.log"), tmp("body"), tmp("proxy"),
		tmp("fastcgi"), tmp("uwsgi"), tmp("scgi"), tmp("httpev.conf"))
	require.NoError(t, os.WriteFile(tmp("httpev.conf"), []byte(conf), 0o644))
	require.NoError(t, os.WriteFile(tmp("nginx.conf"), []byte(main), 0o644))
	args := []string{"-p", prefix, "-c", tmp("nginx.conf"), "-e", tmp("error.log")}

	out, err := exec.Command(nginx, append(args, "-t")...).CombinedOutput()
	require.NoError(t, err, "nginx -t rejects the configuration from %s:\n%s\n%s", deployDoc, out, conf)

	cmd := exec.Command(nginx, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	nginxRun.mu.Lock()
	nginxRun.master = cmd.Process.Pid
	nginxRun.mu.Unlock()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM) // fast shutdown of master and workers
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // whatever is left of the group
		<-exited
		if t.Failed() {
			errLog, _ := os.ReadFile(tmp("error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", logs.String(), errLog)
		}
	})
	waitDial(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// nginxPIDs is nginx's master and its workers.
func nginxPIDs(t *testing.T) []int {
	t.Helper()
	nginxRun.mu.Lock()
	master := nginxRun.master
	nginxRun.mu.Unlock()
	workers := childPIDs(master)
	require.NotEmpty(t, workers, "nginx has no worker process")
	return append([]int{master}, workers...)
}

// clientFrom is an HTTP client whose connections leave from the loopback
// address ip, so the server can tell it from nginx (127.0.0.1).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8},
		Timeout:   2 * time.Minute,
	}
}

func getEcho(t *testing.T, c *http.Client, req *http.Request) echoReply {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rep echoReply
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rep))
	return rep
}

func hostPort(base string) string { return strings.TrimPrefix(base, "http://") }

// progressSeen is one progress event and when it arrived.
type progressSeen struct {
	Bytes int64 `json:"bytes"`
	Done  bool  `json:"done"`
	at    time.Time
}

// progressStream opens a progress stream and delivers its progress events
// as they arrive; connected closes once the stream is registered.
func progressStream(t *testing.T, c *http.Client, url string) (<-chan progressSeen, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := make(chan progressSeen, 1<<16)
	connected := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == ": connected":
				close(connected)
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "progress":
				ev := progressSeen{at: time.Now()}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					events <- ev
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return events, connected
}

// postLargeFile uploads size pseudo-random bytes as one multipart file,
// generated and hashed while they are sent (the test holds none of it),
// with a Content-Length as browsers send.
func postLargeFile(t *testing.T, c *http.Client, url string, size int64, sum *string) *http.Response {
	t.Helper()
	const boundary = "httpev-e2e-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	h := sha256.New()
	data := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{16}), size), h)
	body := io.MultiReader(strings.NewReader(head), data, strings.NewReader(tail))
	req, err := http.NewRequest("POST", url, body)
	require.NoError(t, err)
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	resp, err := c.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	*sum = hex.EncodeToString(h.Sum(nil))
	return resp
}

func keys(m map[int]int) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}
