package httpev

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statsRoutes answers the Stats tests' requests: /ok 200, /missing 404,
// /panic panics, /slow waits for release before answering.
func statsRoutes(release <-chan struct{}) func(*CGI) {
	return func(c *CGI) {
		switch c.Path() {
		case "/ok":
			c.Print("ok")
		case "/panic":
			panic("boom")
		case "/slow":
			<-release
			c.Print(strings.Repeat("x", 100<<10))
		default:
			c.SetStatus(404)
			c.Print("no")
		}
	}
}

// rawExchange sends raw on a new connection and reads until the server
// closes it, returning how many bytes came back.
func rawExchange(t *testing.T, l *PortListener, raw string) int {
	t.Helper()
	conn, br := rawConn(t, l)
	_, err := io.WriteString(conn, raw)
	require.NoError(t, err)
	got, err := io.ReadAll(br)
	require.NoError(t, err)
	return len(got)
}

func TestStatsCounts(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			release := make(chan struct{})
			srv, l, _ := testServer(t, Options{MaxURL: 64}, ListenOptions{Threading: threading, Timeout: 300 * time.Millisecond},
				statsRoutes(release))
			before := srv.Stats()
			require.Zero(t, before.ConnsAccepted)

			// Three answered requests on one connection, then close: every
			// byte sent and received is counted exactly.
			reqs := "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n" +
				"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
			out := rawExchange(t, l, reqs)
			panicReq := "GET /panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
			out += rawExchange(t, l, panicReq)
			out += rawExchange(t, l, "GET /"+strings.Repeat("a", 100)+" HTTP/1.1\r\nHost: x\r\n\r\n") // 414
			out += rawExchange(t, l, "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")               // 400
			out += rawExchange(t, l, "GET /ok HTTP/1.1\r\nHost: x\r\n")                               // 408 after Timeout
			in := len(reqs) + len(panicReq) + len("GET /"+strings.Repeat("a", 100)+" HTTP/1.1\r\nHost: x\r\n\r\n") +
				len("GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n") + len("GET /ok HTTP/1.1\r\nHost: x\r\n")

			// A client that leaves before its answer.
			conn, _ := rawConn(t, l)
			_, err := io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
			require.NoError(t, err)
			in += len("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
			require.Eventually(t, func() bool { return srv.Stats().BytesIn == uint64(in) }, 5*time.Second, time.Millisecond)
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close() // reset: the 100 KB answer cannot go out
			close(release)

			require.Eventually(t, func() bool { s := srv.Stats(); return s.ConnsOpen == 0 && s.Dropped.ClientGone == 1 },
				5*time.Second, time.Millisecond, "%+v", srv.Stats())
			st := srv.Stats()
			t.Logf("%+v", st)
			assert.Equal(t, uint64(6), st.ConnsAccepted)
			assert.Equal(t, [6]uint64{0, 0, 3, 0, 4, 1}, st.Requests, "2xx (two /ok, the cut /slow), 4xx (404, 414, 400, 408), 5xx (panic)")
			assert.Equal(t, DropStats{Timeout: 1, Limit: 1, Malformed: 1, ClientGone: 1, Panic: 1}, st.Dropped)
			assert.Equal(t, uint64(in), st.BytesIn, "every byte the clients sent")
			assert.GreaterOrEqual(t, st.BytesOut, uint64(out), "every byte the clients read, and some of the cut answer")
			assert.Less(t, st.BytesOut, uint64(out+200<<10))
		})
	}
}

// TestStatsConnections: where an idle keep-alive connection waits shows
// in the connection gauges.
func TestStatsConnections(t *testing.T) {
	cases := []struct {
		name      string
		opts      Options
		threading bool
		want      func(Stats) int // the gauge that must hold the connection
	}{
		{"goroutine", Options{NoIdlePark: true}, false, func(s Stats) int { return s.ConnsOnGoroutines }},
		{"parked", Options{}, false, func(s Stats) int { return s.ConnsParked }},
		{"resident", Options{}, true, func(s Stats) int { return s.ConnsResident }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "goroutine" && runtime.GOOS != "linux" {
				t.Skip("connections wait in a poller only on Linux")
			}
			leakCheck(t)
			srv, l, _ := testServer(t, tc.opts, ListenOptions{Threading: tc.threading}, drainEcho)
			openIdle(t, l, 2)
			require.Eventually(t, func() bool { return tc.want(srv.Stats()) == 2 }, 5*time.Second, 5*time.Millisecond,
				"%+v", srv.Stats())
			st := srv.Stats()
			assert.Equal(t, 2, st.ConnsOpen)
			assert.Equal(t, 2, st.ConnsResident+st.ConnsParked+st.ConnsOnGoroutines)
		})
	}
}

// TestStatsUploads: an upload held in OnFileWrite shows as in flight with
// its bytes on disk; once its request ends (the file not saved) both go
// back to zero, and a saved file leaves TmpPath's count too.
func TestStatsUploads(t *testing.T) {
	leakCheck(t)
	hold, held := make(chan struct{}), make(chan struct{})
	var once bool
	srv, _, url := testServer(t, Options{}, ListenOptions{
		OnFileWrite: func(c *CGI, f *MultipartFile, chunk []byte) {
			if !once && f.Size() >= 64<<10 {
				once = true
				close(held)
				<-hold
			}
		},
	}, func(c *CGI) {
		if c.Param("save") != "" {
			for _, f := range c.File("f") {
				require.NoError(t, f.Save(t.TempDir()+"/saved"))
			}
		}
		c.Print("ok")
	})
	data := randomBytes(t, 1<<20)
	ct, body := multipartBody(t, nil, []testFile{{"f", "a.bin", data}})
	done := make(chan error, 1)
	go func() {
		resp, err := client().Post(url+"/up", ct, bytes.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	<-held
	st := srv.Stats()
	assert.Equal(t, 1, st.UploadsInFlight)
	assert.Equal(t, 1, st.UploadFilesOnDisk)
	assert.GreaterOrEqual(t, st.UploadBytesOnDisk, int64(64<<10))
	close(hold)
	require.NoError(t, <-done)
	st = srv.Stats()
	assert.Equal(t, 0, st.UploadsInFlight)
	assert.Equal(t, 0, st.UploadFilesOnDisk)
	assert.Zero(t, st.UploadBytesOnDisk)

	resp, err := client().Post(url+"/up?save=1", ct, bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	st = srv.Stats()
	assert.Equal(t, 0, st.UploadFilesOnDisk, "a saved file has left TmpPath")
	// A request is counted once its answer is out: the client may see it
	// first.
	require.Eventually(t, func() bool { return srv.Stats().Requests[2] == 2 }, 5*time.Second, time.Millisecond)
}

// TestStatsOverload: connections turned away past MaxConns count as
// dropped for overload, answered 503.
func TestStatsOverload(t *testing.T) {
	leakCheck(t)
	srv, l, _ := testServer(t, Options{MaxConns: 1, RejectOverload: true}, ListenOptions{}, drainEcho)
	openIdle(t, l, 1)            // holds the only slot
	got := rawExchange(t, l, "") // sending nothing: the server's close then cannot reset it
	require.Equal(t, len(overloadResponse), got)
	require.Eventually(t, func() bool { return srv.Stats().Dropped.Overload == 1 }, 5*time.Second, time.Millisecond)
	st := srv.Stats()
	assert.Equal(t, uint64(1), st.Requests[5])
	assert.Equal(t, uint64(2), st.ConnsAccepted)
}

// BenchmarkStatsCount is what counting adds to a request (its status, the
// bytes of one read and one write), from parallel goroutines: "striped"
// gives each its own stripe, as connections get, "one-stripe" makes them
// all add to the same counters, the contention striping avoids.
func BenchmarkStatsCount(b *testing.B) {
	for _, striped := range []bool{true, false} {
		name := map[bool]string{true: "striped", false: "one-stripe"}[striped]
		b.Run(name, func(b *testing.B) {
			var s serverStats
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				st := &s.stripes[0]
				if striped {
					st = s.stripe()
				}
				for pb.Next() {
					st.countIn(80)
					st.countOut(120)
					st.count(200, noDrop)
				}
			})
		})
	}
}
