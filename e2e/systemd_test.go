package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSystemdSocketActivation checks docs/deploy.md's systemd units and
// runs the app the way they start it, with its socket made by
// systemd-socket-activate (Debian's systemd package; no running systemd
// needed): the app must serve the socket it inherited, whose first
// connection arrived before it even started, and stop cleanly on SIGTERM.
func TestSystemdSocketActivation(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not found: install Debian's systemd package (apt-get install -y systemd, as .ci/run does) to run the socket-activation test")
	}
	bin := buildApp(t)
	port := freePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	socket := docBlock(t, "systemd-socket")
	socket = replaceOnce(t, socket, "ListenStream=127.0.0.1:8080", "ListenStream="+listen)
	service := docBlock(t, "systemd-service")
	service = replaceOnce(t, service, "/usr/local/bin/httpev-upload", bin)
	service = replaceOnce(t, service, "-dir /var/lib/httpev-upload", "-dir "+dir)

	t.Run("units verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze not found (Debian's systemd package)")
		}
		units := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(units, "httpev-upload.socket"), []byte(socket), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(units, "httpev-upload.service"), []byte(service), 0o644))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, analyze, "verify",
			filepath.Join(units, "httpev-upload.socket"), filepath.Join(units, "httpev-upload.service"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "systemd-analyze verify:\n%s", out)
		// Unknown keys are only warned about: any output is a finding.
		assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has remarks on the units of %s", deployDoc)
	})

	exec := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(service)
	require.NotNil(t, exec, "the service unit has an ExecStart")
	args := strings.Fields(exec[1])
	require.Equal(t, bin, args[0])
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"as the unit says (-procs 2)", args[1:]},
		{"one process", withoutProcs(args[1:])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socketActivated(t, activate, listen, bin, tc.args)
		})
	}
}

func withoutProcs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-procs" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func socketActivated(t *testing.T, activate, listen, bin string, args []string) {
	var out lockedBuffer
	cmd := exec.Command(activate, append([]string{"-l", listen, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so cleanup reaches the workers too
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Listening on") },
		10*time.Second, 10*time.Millisecond, "systemd-socket-activate listens")
	assert.NotContains(t, out.String(), "httpev-upload:", "the app starts on the first connection, not before")

	// The first connection is made before the app runs: it waits in the
	// socket's queue, which the app then inherits.
	const clients = 8
	pids := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed []string
	for range clients {
		wg.Go(func() {
			for range 10 {
				c, err := dialRaw(listen)
				if err == nil {
					var rep echoReply
					rep, err = c.echo()
					c.Close()
					if err == nil && rep.Env["SERVER_PORT"] != strings.TrimPrefix(listen, "127.0.0.1:") {
						err = fmt.Errorf("SERVER_PORT %q", rep.Env["SERVER_PORT"])
					}
					if err == nil {
						mu.Lock()
						pids[rep.PID]++
						mu.Unlock()
						continue
					}
				}
				mu.Lock()
				failed = append(failed, err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests on the inherited socket, served per pid: %v", clients*10, pids)
	assert.Empty(t, failed)
	assert.Contains(t, out.String(), "socket from systemd", "the app says it serves systemd's socket")
	procs := withoutProcs(args)
	if len(procs) != len(args) {
		assert.Eventually(t, func() bool {
			o := out.String()
			return strings.Contains(o, "worker 0 (pid") && strings.Contains(o, "worker 1 (pid")
		}, 10*time.Second, 10*time.Millisecond, "both workers serve the socket systemd passed")
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		require.NoError(t, exitErr, "exit status after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGTERM")
	}
	assert.Contains(t, out.String(), `msg=stopped`)
	_, err := net.DialTimeout("tcp", listen, time.Second)
	assert.Error(t, err, "the socket closed with the service")
	assert.False(t, bytes.Contains([]byte(out.String()), []byte("DATA RACE")))
}
