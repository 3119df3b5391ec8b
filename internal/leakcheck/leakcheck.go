// Package leakcheck fails a test binary whose tests leave goroutines or
// open file descriptors behind. It is what the packages' TestMain functions
// call: a server library that leaks either under test will leak them in
// production, one connection at a time.
package leakcheck

import (
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long the checks give closes in flight to finish.
const Wait = 5 * time.Second

// Main runs the tests and returns the exit code for os.Exit: m.Run's, or 1
// when, after passing tests, goroutines whose stacks mention any of pkgs
// (import-path prefixes such as "github.com/httpev/httpev.") or descriptors
// opened during the run are still there.
func Main(m *testing.M, pkgs ...string) int {
	// The runtime's network poller opens its descriptors on first use and
	// keeps them; start it so that they are not counted as leaks.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	fds := fdTargets()
	code := m.Run()
	if code != 0 {
		return code
	}
	if leaked := goroutines(pkgs, Wait); leaked != "" {
		os.Stderr.WriteString("leaked goroutines:\n" + leaked + "\n")
		code = 1
	}
	if leaked := descriptors(fds, Wait); leaked != "" {
		os.Stderr.WriteString("leaked file descriptors:\n" + leaked + "\n")
		code = 1
	}
	return code
}

// goroutines lists the stacks of goroutines running code of pkgs, once
// wait has passed without them all ending.
func goroutines(pkgs []string, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "TestMain") || strings.Contains(g, "leakcheck.") {
				continue
			}
			for _, p := range pkgs {
				if strings.Contains(g, p) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fdTargets maps this process's open descriptors to what they refer to;
// nil where /proc is not available.
func fdTargets() map[string]string {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	m := make(map[string]string, len(es))
	for _, e := range es {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		m[e.Name()] = target
	}
	return m
}

// descriptors lists descriptors open now that were not open before the
// tests (sockets, temp files), once wait has passed without them closing.
func descriptors(before map[string]string, wait time.Duration) string {
	if before == nil {
		return ""
	}
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for fd, target := range fdTargets() {
			if before[fd] != target && !strings.HasPrefix(target, "/proc/") {
				leaked = append(leaked, fd+" -> "+target)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
