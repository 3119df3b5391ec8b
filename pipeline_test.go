package httpev

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pipelined answers share one write (pipeline.go), in every way a
// connection can be served: Linux's poller (Threading on), a goroutine per
// connection (NoIdlePark, and other systems), and Threading off.

var pipelineModes = []struct {
	name string
	opts Options
	lo   ListenOptions
}{
	{"threading", Options{}, ListenOptions{Threading: true}},
	{"threading-goroutine", Options{NoIdlePark: true}, ListenOptions{Threading: true}},
	{"serial", Options{}, ListenOptions{}},
}

// pipelineServer is testServer with the hold timer (holdWait) set to an
// hour unless timer: only a callback that blocks may rely on the timer,
// every other path must write held answers by itself.
func pipelineServer(t *testing.T, opts Options, lo ListenOptions, timer bool, cb func(*CGI)) (*Server, *PortListener) {
	t.Helper()
	opts.TmpPath = t.TempDir()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(opts)
	require.NoError(t, err)
	if !timer {
		srv.holdWait = time.Hour
	}
	l, err := srv.Listen("127.0.0.1:0", cb, lo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv, l
}

// writeCalls is the counter hook: write calls to clients so far. A write
// is counted after it returns: a test that needs every write counted
// waits for the connection to end first.
func writeCalls(srv *Server) uint64 {
	var n uint64
	for i := range srv.stats.stripes {
		n += srv.stats.stripes[i].writes.Load()
	}
	return n
}

// echoPath answers with the request's path and query, so that a client
// can tell the answers apart and check their order.
func echoPath(c *CGI) {
	c.Header(http.Header{"Content-Type": {"text/plain"}})
	_, _ = c.WriteString(c.Env("REQUEST_URI") + " " + c.Param("v"))
}

func pipelineOf(n int, path string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "GET %s%d HTTP/1.1\r\nHost: x\r\n\r\n", path, i)
	}
	return b.String()
}

// readAnswers reads n answers from br and checks they echo path0..n-1.
func readAnswers(t *testing.T, br *bufio.Reader, n int, path string) {
	t.Helper()
	for i := range n {
		resp, body := readResponse(t, br, "GET")
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, fmt.Sprintf("%s%d ", path, i), body)
	}
}

func TestPipelineSharesWrites(t *testing.T) {
	const n = 16
	for _, m := range pipelineModes {
		t.Run(m.name, func(t *testing.T) {
			srv, l := pipelineServer(t, m.opts, m.lo, false, echoPath)
			nc, br := rawConn(t, l)
			// A request first, so that the connection is past its
			// first-request handling (the poller makes it resident).
			_, err := io.WriteString(nc, pipelineOf(1, "/warm"))
			require.NoError(t, err)
			readAnswers(t, br, 1, "/warm")
			// A form body among them: the body is read from the buffer
			// while answers are held.
			form := "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nv=7"
			before := writeCalls(srv)
			_, err = io.WriteString(nc, pipelineOf(n, "/p")+form+pipelineOf(1, "/last"))
			require.NoError(t, err)
			readAnswers(t, br, n, "/p")
			resp, body := readResponse(t, br, "POST")
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, "/form 7", body)
			readAnswers(t, br, 1, "/last")
			writes := writeCalls(srv) - before
			t.Logf("%d answers, %d writes", n+2, writes)
			// One write when the 18 requests arrive in one read, as they
			// do on loopback; a few more if the kernel splits them.
			// Without holding it is one write per answer.
			assert.LessOrEqual(t, writes, uint64(4))
		})
	}
}

// What is held is bounded: 4 KB, or FlushThreshold if smaller.
func TestPipelineHoldBound(t *testing.T) {
	const n = 8
	big := strings.Repeat("x", 1500)
	for _, tc := range []struct {
		name     string
		opts     Options
		body     string
		min, max uint64
	}{
		{"small answers, threshold 64", Options{FlushThreshold: 64}, "", n, n},
		{"1500-byte answers", Options{}, big, 3, n - 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, l := pipelineServer(t, tc.opts, ListenOptions{Threading: true}, false, func(c *CGI) {
				echoPath(c)
				_, _ = c.WriteString(tc.body)
			})
			nc, br := rawConn(t, l)
			before := writeCalls(srv)
			_, err := io.WriteString(nc, pipelineOf(n, "/p"))
			require.NoError(t, err)
			for i := range n {
				resp, body := readResponse(t, br, "GET")
				require.Equal(t, 200, resp.StatusCode)
				require.Equal(t, fmt.Sprintf("/p%d %s", i, tc.body), body)
			}
			// A write is counted after it returns, so the last one can
			// be read before it is counted (on a loaded machine: 2 of 3
			// writes seen in about a quarter of runs): every write is
			// counted once the connection is gone.
			nc.Close()
			requireNoConns(t, srv, 5*time.Second)
			writes := writeCalls(srv) - before
			t.Logf("%d answers, %d writes", n, writes)
			assert.GreaterOrEqual(t, writes, tc.min)
			assert.LessOrEqual(t, writes, tc.max)
		})
	}
}

// Over TLS the answers share one write too (and so one TLS record).
func TestPipelineSharesWritesTLS(t *testing.T) {
	const n = 8
	for _, threading := range []bool{true, false} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			certFile, keyFile, pool := selfSigned(t, t.TempDir())
			srv, l := pipelineServer(t, Options{}, ListenOptions{Threading: threading, CertFile: certFile, KeyFile: keyFile}, false, echoPath)
			nc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool})
			require.NoError(t, err)
			t.Cleanup(func() { nc.Close() })
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(nc)
			_, err = io.WriteString(nc, pipelineOf(1, "/warm"))
			require.NoError(t, err)
			readAnswers(t, br, 1, "/warm")
			before := writeCalls(srv)
			_, err = io.WriteString(nc, pipelineOf(n, "/p"))
			require.NoError(t, err)
			readAnswers(t, br, n, "/p")
			writes := writeCalls(srv) - before
			t.Logf("%d answers, %d writes", n, writes)
			assert.LessOrEqual(t, writes, uint64(3))
		})
	}
}

// A callback that waits (blocks, keeps its request, streams) must not
// hold back the answers before it: the first answer arrives while the
// second request's callback still waits for the client to have read it.
func TestPipelineSlowCallbackDoesNotHoldEarlierAnswers(t *testing.T) {
	slow := map[string]func(c *CGI, release chan struct{}){
		"blocks": func(c *CGI, release chan struct{}) {
			<-release
			c.Header(nil)
			_, _ = c.WriteString("slow")
		},
		"keeps": func(c *CGI, release chan struct{}) {
			c.Keep()
			go func() {
				<-release
				c.Header(nil)
				_, _ = c.WriteString("slow")
				_ = c.Close()
			}()
		},
		"streams": func(c *CGI, release chan struct{}) {
			c.Header(nil)
			_, _ = c.WriteString("sl")
			c.Flush()
			c.Keep()
			go func() {
				<-release
				_, _ = c.WriteString("ow")
				_ = c.Close()
			}()
		},
	}
	for _, m := range pipelineModes {
		for name, f := range slow {
			t.Run(m.name+"/"+name, func(t *testing.T) {
				release := make(chan struct{})
				released := false
				t.Cleanup(func() {
					if !released {
						close(release)
					}
				})
				_, l := pipelineServer(t, m.opts, m.lo, name == "blocks", func(c *CGI) {
					if strings.HasPrefix(c.Env("REQUEST_URI"), "/slow") {
						f(c, release)
						return
					}
					echoPath(c)
				})
				nc, br := rawConn(t, l)
				_, err := io.WriteString(nc, pipelineOf(2, "/fast")+pipelineOf(1, "/slow")+pipelineOf(1, "/after"))
				require.NoError(t, err)
				_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				readAnswers(t, br, 2, "/fast") // a hold waiting on /slow would time out here
				close(release)
				released = true
				resp, body := readResponse(t, br, "GET")
				require.Equal(t, 200, resp.StatusCode)
				require.Equal(t, "slow", body)
				readAnswers(t, br, 1, "/after") // /after0
			})
		}
	}
}

// A request that takes the socket over (GiveUpHandle) gets it after the
// answers held before it have gone out.
func TestPipelineGiveUpHandleAfterHeldAnswers(t *testing.T) {
	for _, m := range pipelineModes {
		t.Run(m.name, func(t *testing.T) {
			_, l := pipelineServer(t, m.opts, m.lo, false, func(c *CGI) {
				if !strings.HasPrefix(c.Env("REQUEST_URI"), "/up") {
					echoPath(c)
					return
				}
				nc, err := c.GiveUpHandle()
				if err != nil {
					return
				}
				go func() {
					defer nc.Close()
					_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nraw")
				}()
			})
			nc, br := rawConn(t, l)
			_, err := io.WriteString(nc, pipelineOf(2, "/p")+pipelineOf(1, "/up"))
			require.NoError(t, err)
			readAnswers(t, br, 2, "/p")
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(rest), "HTTP/1.1 101 "), "%q", rest)
			assert.True(t, strings.HasSuffix(string(rest), "raw"), "%q", rest)
		})
	}
}

// A pipeline whose last request is incomplete: the answers before it go
// out without the client sending more.
func TestPipelinePartialHeadDoesNotHoldAnswers(t *testing.T) {
	for _, m := range pipelineModes {
		t.Run(m.name, func(t *testing.T) {
			_, l := pipelineServer(t, m.opts, m.lo, false, echoPath)
			nc, br := rawConn(t, l)
			_, err := io.WriteString(nc, pipelineOf(3, "/p")+"GET /p3 HTTP/1.1\r\nHo")
			require.NoError(t, err)
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			readAnswers(t, br, 3, "/p")
			_, err = io.WriteString(nc, "st: x\r\n\r\n")
			require.NoError(t, err)
			resp, body := readResponse(t, br, "GET")
			require.Equal(t, 200, resp.StatusCode)
			require.Equal(t, "/p3 ", body)
		})
	}
}

// A pipeline ending in a request the server refuses: the answers before
// it arrive in order, then the refusal with Connection: close, then the
// end of the connection (SECURITY.md, Message framing).
func TestPipelineEndingInBadRequest(t *testing.T) {
	bad := map[string]string{
		"bad head":         "GET /x HTTP/1.1\nHost: x\r\n\r\n",
		"two lengths":      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"bad chunk":        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\n",
		"form over limits": "POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999\r\n\r\n",
	}
	for _, m := range pipelineModes {
		for name, req := range bad {
			t.Run(m.name+"/"+name, func(t *testing.T) {
				srv, l := pipelineServer(t, m.opts, m.lo, false, echoPath)
				nc, br := rawConn(t, l)
				before := writeCalls(srv)
				_, err := io.WriteString(nc, pipelineOf(3, "/ok")+req+pipelineOf(1, "/hidden"))
				require.NoError(t, err)
				readAnswers(t, br, 3, "/ok")
				resp, _ := readResponse(t, br, "POST")
				assert.GreaterOrEqual(t, resp.StatusCode, 400)
				assert.True(t, resp.Close, "Connection: close")
				_, err = br.ReadByte()
				assert.ErrorIs(t, err, io.EOF, "nothing after the refusal")
				t.Logf("%d writes", writeCalls(srv)-before)
			})
		}
	}
}

// BenchmarkServePipelined is TechEmpower's plaintext shape: 16 requests
// pipelined per connection, the answers read back whole. ns/op and
// allocs/op are per request; writes/req is the server's write calls.
func BenchmarkServePipelined(b *testing.B) {
	const depth = 16
	for _, m := range pipelineModes {
		b.Run(m.name, func(b *testing.B) {
			srv, l, _ := testServer(b, m.opts, m.lo, helloCallback)
			bc := dialBench(b, l.Addr().String())
			one, err := bc.roundTrip(helloRequest) // the answer's size: the same for each
			if err != nil || string(one) != helloBody {
				b.Fatal(err, string(one))
			}
			batch := []byte(strings.Repeat(string(helloRequest), depth))
			respLen := 0
			if _, err := bc.nc.Write(helloRequest); err != nil {
				b.Fatal(err)
			}
			for {
				n, err := bc.nc.Read(bc.buf[respLen:])
				if err != nil {
					b.Fatal(err)
				}
				respLen += n
				if strings.HasSuffix(string(bc.buf[:respLen]), helloBody) {
					break
				}
			}
			in := make([]byte, depth*respLen)
			w0 := writeCalls(srv)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += depth {
				if _, err := bc.nc.Write(batch); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(bc.nc, in); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reqs := (b.N + depth - 1) / depth * depth
			b.ReportMetric(float64(writeCalls(srv)-w0)/float64(reqs), "writes/req")
		})
	}
}
