// Package pgtest starts the private PostgreSQL of scripts/pgtmp for the
// tests of the nested modules that need a database (bench, examples/db):
// one copy of the start, skip and cleanup rules instead of one per module.
// It lives in the library's module but imports only the standard library,
// so it adds nothing to any go.mod.
package pgtest

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Start starts a private PostgreSQL cluster with the TechEmpower schema
// (scripts/pgtmp: initdb in a temp directory, a Unix socket, no TCP) and
// returns its DATABASE_URL; the cluster is stopped and removed when the
// test ends. It skips the test when PostgreSQL is not installed.
func Start(t testing.TB) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("pgtest: cannot locate scripts/pgtmp")
	}
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "pgtmp")
	if out, err := exec.Command(script, "bin").CombinedOutput(); err != nil {
		t.Skipf("PostgreSQL is not installed, skipping (needs initdb and pg_ctl; Debian: apt-get install postgresql, which .ci/run does): %s", bytes.TrimSpace(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, script, "start")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pgtmp start: %v: %s", err, stderr.String())
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	if vars["DIR"] == "" || vars["DATABASE_URL"] == "" {
		t.Fatalf("pgtmp start printed %q", out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", vars["DIR"]).CombinedOutput(); err != nil {
			t.Errorf("pgtmp stop: %v: %s", err, out)
		}
	})
	return vars["DATABASE_URL"]
}
