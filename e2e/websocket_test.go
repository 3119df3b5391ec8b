package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNginxWebSocket runs docs/deploy.md's nginx configuration with its
// WebSocket location in front of two instances of examples/websocket, and
// talks to both endpoints through nginx with coder/websocket's client.
func TestNginxWebSocket(t *testing.T) {
	nginx := findNginx(t)
	bin := filepath.Join(t.TempDir(), "websocket")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "../examples/websocket"
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build examples/websocket: %s", out)
	a, b := startWebSocketExample(t, bin), startWebSocketExample(t, bin)

	conf := frontConf(t, a.addr, b.addr)
	// The WebSocket location goes into the server block, before "location /".
	conf = replaceOnce(t, conf, "    location / {\n", docBlock(t, "nginx-websocket")+"\n    location / {\n")
	front := strings.Replace(startNginx(t, nginx, conf), "http://", "ws://", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func(path string) *websocket.Conn {
		c, resp, err := websocket.Dial(ctx, front+path, nil)
		require.NoError(t, err, "dial %s through nginx", path)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		t.Cleanup(func() { c.CloseNow() })
		c.SetReadLimit(1 << 20) // the example's limit; the client's default is 32 KiB
		return c
	}

	echo := dial("/ws/echo")
	for i, m := range []string{"hello", strings.Repeat("x", 100<<10), "bye"} {
		require.NoError(t, echo.Write(ctx, websocket.MessageText, []byte(m)))
		_, got, err := echo.Read(ctx)
		require.NoError(t, err, "echo %d", i)
		assert.Equal(t, m, string(got), "echo %d through nginx", i)
	}

	// Two clients of one room: hash $arg_id sends them to one instance.
	alice, bob := dial("/ws/chat?id=lobby"), dial("/ws/chat?id=lobby")
	heard := make(chan string, 64)
	bobErr := make(chan error, 1)
	go func() { // Bob reads until the end (a Read cancelled midway would close his socket)
		for {
			_, m, err := bob.Read(ctx)
			if err != nil {
				bobErr <- err
				close(heard)
				return
			}
			heard <- string(m)
		}
	}()
	// Bob may not be registered yet when Alice first speaks: she repeats
	// until he hears her (each message reaches her too).
	var got string
	for deadline := time.Now().Add(10 * time.Second); got == "" && time.Now().Before(deadline); {
		require.NoError(t, alice.Write(ctx, websocket.MessageText, []byte("hi bob")))
		select {
		case got = <-heard:
		case <-time.After(100 * time.Millisecond):
		}
	}
	assert.Equal(t, "hi bob", got, "a chat message reaches the other client through nginx")

	// Stopping the instances closes the WebSockets with 1001, through nginx.
	errs := make(chan error, 3)
	go func() {
		for {
			if _, _, err := echo.Read(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		for range heard { // Alice's repeats, drained
		}
	}()
	go func() { errs <- <-bobErr }()
	go func() { // Alice reads her own repeats, and the close
		for {
			if _, _, err := alice.Read(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	a.stop(t)
	b.stop(t)
	for range 3 {
		assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(<-errs), "the close reaches the client through nginx")
	}
	t.Logf("WebSocket through nginx: 3 echoes (up to 100 KiB), a chat message between two clients, 1001 on stop")
}

type wsExample struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	out    *lockedBuffer
}

var wsServing = regexp.MustCompile(`serving http://([^/ ]+)/`)

func startWebSocketExample(t *testing.T, bin string) *wsExample {
	t.Helper()
	e := &wsExample{exited: make(chan struct{}), out: &lockedBuffer{}}
	e.cmd = exec.Command(bin, "-addr", "127.0.0.1:0")
	e.cmd.Stderr = e.out
	stdout, err := e.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, e.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			e.out.WriteString(sc.Text() + "\n")
			if m := wsServing.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		e.err = e.cmd.Wait()
		close(e.exited)
	}()
	select {
	case e.addr = <-addr:
	case <-e.exited:
		t.Fatalf("examples/websocket exited: %v\n%s", e.err, e.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("examples/websocket did not start\n%s", e.out.String())
	}
	t.Cleanup(func() {
		select {
		case <-e.exited:
		default:
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
		if t.Failed() {
			t.Logf("examples/websocket output:\n%s", e.out.String())
		}
	})
	return e
}

// stop sends SIGTERM and requires a clean exit.
func (e *wsExample) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, e.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-e.exited:
		require.NoError(t, e.err, "exit status after SIGTERM\n%s", e.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("examples/websocket still running 30 s after SIGTERM\n%s", e.out.String())
	}
}
