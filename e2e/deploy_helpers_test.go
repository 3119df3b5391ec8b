package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deployDoc is the page whose configurations the deployment tests run.
var deployDoc = filepath.Join("..", "docs", "deploy.md")

// docBlock returns the fenced code block between <!-- name:begin --> and
// <!-- name:end --> in docs/deploy.md: the tests run what the page shows.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(deployDoc)
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(name) + ":begin -->\\s*```[a-z]*\\n(.*?)```\\s*<!-- " +
		regexp.QuoteMeta(name) + ":end -->")
	m := re.FindSubmatch(doc)
	require.NotNil(t, m, "%s has no %s block between markers", deployDoc, name)
	return string(m[1])
}

// replaceOnce substitutes a value the doc shows with the test's, and fails
// when the doc no longer holds it exactly once, so an edit of the doc
// cannot silently leave the test running something else.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(s, old), "%q must appear once in the block from %s", old, deployDoc)
	return strings.Replace(s, old, new, 1)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitDial waits until addr accepts connections.
func waitDial(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peakRSS is a process's peak resident memory (VmHWM), in bytes: what the
// process ever held in RAM, so a copy of a large body anywhere shows.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err, line)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at its ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// echoReply is the part of the upload app's /echo answer the tests read.
type echoReply struct {
	PID int               `json:"pid"`
	Env map[string]string `json:"env"`
}

// rawConn is one keep-alive connection driven by hand: no transport that
// retries or redials behind the test's back, so every failed request is
// seen and attributed to the process that held the connection.
type rawConn struct {
	c   net.Conn
	br  *bufio.Reader
	pid int // the process serving it, once a request got an answer
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, br: bufio.NewReader(c)}, nil
}

// echo sends GET /echo and reads the answer, failing on anything but 200.
func (r *rawConn) echo() (echoReply, error) {
	var rep echoReply
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.c, "GET /echo HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return rep, err
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("status %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return rep, err
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return rep, err
	}
	r.pid = rep.PID
	return rep, nil
}

func (r *rawConn) Close() error { return r.c.Close() }

const mib = 1 << 20
