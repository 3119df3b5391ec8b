//go:build unix

package httpev

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// runAsNobody runs one test of this package in a child process with the
// uid and gid of nobody and fails if it does not pass there.
func runAsNobody(t *testing.T, test string) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	// go test's build directory is private to root; nobody needs a copy it
	// can execute.
	dir, err := os.MkdirTemp("", "httpev-nobody-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "httpev.test")
	in, err := os.Open(self)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, errors.Join(err, out.Close()))

	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	output, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.Is(err, syscall.EPERM) && !errors.As(err, &exit) {
		t.Skipf("%s: cannot start a process as nobody here (%v)", test, err)
	}
	require.NoError(t, err, "%s as nobody:\n%s", test, output)
	require.Contains(t, string(output), "--- PASS: "+test, "it ran (and was not skipped) as nobody:\n%s", output)
}
