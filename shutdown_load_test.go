package httpev

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Graceful shutdown under a mixed load: every request whose bytes were all
// sent before Shutdown began completes with 200; any other ends cleanly
// (refused, or closed before a byte of response came); none is cut halfway.

// loadKind is one kind of request of the mixed load.
type loadKind int

const (
	kindGet loadKind = iota
	kindForm
	kindUpload
)

func (k loadKind) String() string { return [...]string{"GET", "form POST", "1 MiB upload"}[k] }

// loadRequests builds the raw requests of the mixed load once.
type loadRequests struct {
	get, form, upload []byte
	uploadSize        int
}

func newLoadRequests(t testing.TB, closeConn bool) *loadRequests {
	hdr := ""
	if closeConn {
		hdr = "Connection: close\r\n"
	}
	data := randomBytes(t, 1<<20)
	ct, body := multipartBody(t, map[string]string{"title": "load"}, []testFile{{"f", "load.bin", data}})
	form := "a=1&b=two&c=" + strings.Repeat("x", 500)
	return &loadRequests{
		get: []byte("GET /small?x=1 HTTP/1.1\r\nHost: x\r\n" + hdr + "\r\n"),
		form: []byte(fmt.Sprintf("POST /form HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: %d\r\n\r\n%s", hdr, len(form), form)),
		upload: append([]byte(fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\n%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			hdr, ct, len(body))), body...),
		uploadSize: len(data),
	}
}

func (r *loadRequests) pick(rnd *rand.Rand) (loadKind, []byte) {
	switch n := rnd.IntN(10); {
	case n < 5:
		return kindGet, r.get
	case n < 8:
		return kindForm, r.form
	default:
		return kindUpload, r.upload
	}
}

// loadHandler answers the load's requests with something checkable.
func loadHandler(uploadSize int) func(c *CGI) {
	return func(c *CGI) {
		switch c.Path() {
		case "/small":
			c.Print("ok")
		case "/form":
			c.Printf("ok %s %s %d", c.Param("a"), c.Param("b"), len(c.Param("c")))
		case "/upload":
			fs := c.File("f")
			if len(fs) != 1 || fs[0].Size() != int64(uploadSize) || c.Param("title") != "load" {
				c.SetStatus(500)
				c.Print("bad upload")
				return
			}
			c.Print("ok upload")
		default:
			c.SetStatus(404)
		}
	}
}

// outcome is how one request of the load ended.
type outcome int

const (
	outOK       outcome = iota // complete 200 with the expected body
	outRefused                 // the connection could not be made
	outClosed                  // the connection ended before any byte of response
	outCut                     // some of a response came, then the connection ended
	outBad                     // a complete response, but not the 200 expected
	outSendFail                // the request could not be sent (reset while sending)
	numOutcomes
)

var outcomeNames = [...]string{"200 complete", "refused", "closed before any byte", "cut halfway", "other response", "reset while sending"}

// countingReader counts the bytes of the response read so far.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// loadRecord is one finished request with its timestamps.
type loadRecord struct {
	kind             loadKind
	sentAt, started  time.Time // all bytes written; first byte about to be written
	out              outcome
	detail           string
	keepAliveRequest bool
}

// loadClient runs requests over keep-alive connections (or one connection
// per request) until stop, redialling after a connection ends, and records
// every request; it stops by itself once dialling is refused.
func loadClient(addr string, reqs *loadRequests, seed uint64, stop <-chan struct{}, record func(loadRecord)) {
	rnd := rand.New(rand.NewPCG(seed, seed))
	want := map[loadKind]string{kindGet: "ok", kindForm: "ok 1 two 500", kindUpload: "ok upload"}
	var c net.Conn
	var cr *countingReader
	var br *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		kind, raw := reqs.pick(rnd)
		rec := loadRecord{kind: kind, started: time.Now()}
		if c == nil {
			var err error
			c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				rec.out, rec.detail = outRefused, err.Error()
				record(rec)
				return
			}
			cr = &countingReader{r: c}
			br = bufio.NewReader(cr)
		} else {
			rec.keepAliveRequest = true
		}
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		cr.n = 0
		_, err := c.Write(raw)
		rec.sentAt = time.Now()
		if err != nil {
			rec.out, rec.detail = outSendFail, err.Error()
			if cr.n > 0 {
				rec.out = outCut
			}
			record(rec)
			c.Close()
			c = nil
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case err != nil && cr.n == 0:
			rec.out, rec.detail = outClosed, err.Error()
		case err != nil:
			rec.out, rec.detail = outCut, fmt.Sprintf("%v after %d bytes", err, cr.n)
		case resp.StatusCode != 200 || string(body) != want[kind]:
			rec.out, rec.detail = outBad, fmt.Sprintf("%d %q", resp.StatusCode, body)
		default:
			rec.out = outOK
		}
		record(rec)
		if err != nil || resp.Close {
			c.Close()
			c = nil
		}
	}
}

// TestShutdownUnderLoad runs the mixed load against two listeners of one
// server (Threading off and on), keep-alive clients and one-connection-per-
// request clients, then calls Shutdown and classifies every request by
// when its bytes were sent.
func TestShutdownUnderLoad(t *testing.T) {
	leakCheck(t)
	tmp := t.TempDir()
	keepAlive, oneShot := newLoadRequests(t, false), newLoadRequests(t, true)
	srv, l1, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, loadHandler(keepAlive.uploadSize))
	l2, err := srv.Listen("127.0.0.1:0", loadHandler(keepAlive.uploadSize), ListenOptions{Threading: true})
	require.NoError(t, err)

	var mu sync.Mutex
	var records []loadRecord
	record := func(r loadRecord) {
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	for i, l := range []*PortListener{l1, l2} {
		for w := range 6 {
			reqs := keepAlive
			if w >= 4 {
				reqs = oneShot
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadClient(l.Addr().String(), reqs, seed+uint64(i*100+w), stop, record)
			}()
		}
	}
	var served atomic.Int64
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range records {
			if r.out == outOK {
				n++
			}
		}
		served.Store(int64(n))
		return n >= 60
	}, 20*time.Second, 10*time.Millisecond, "the load gets going")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdownAt := time.Now()
	err = srv.Shutdown(ctx)
	shutdownTook := time.Since(shutdownAt)
	require.NoError(t, err, "Shutdown finishes while the load runs")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done: // every client has seen the refusal
	case <-time.After(10 * time.Second):
		close(stop)
		<-done
		t.Error("load clients still running 10 s after Shutdown")
	}

	// Classify.
	var before, straddling, after [numOutcomes]int
	var violations, backlogLost []string
	for _, r := range records {
		switch {
		case !r.sentAt.IsZero() && r.sentAt.Before(shutdownAt):
			before[r.out]++
			if r.out == outOK {
				break
			}
			v := fmt.Sprintf("sent %v before Shutdown on a %s connection, %s: %s: %s", shutdownAt.Sub(r.sentAt),
				map[bool]string{true: "keep-alive", false: "new"}[r.keepAliveRequest], r.kind, outcomeNames[r.out], r.detail)
			if !r.keepAliveRequest && r.out == outClosed {
				backlogLost = append(backlogLost, v)
			} else {
				violations = append(violations, v)
			}
		case r.started.Before(shutdownAt):
			straddling[r.out]++
		default:
			after[r.out]++
		}
		if r.out == outCut || r.out == outBad {
			violations = append(violations, fmt.Sprintf("%s: %s: %s", r.kind, outcomeNames[r.out], r.detail))
		}
	}
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "Shutdown took %v; %d requests\n| sent | %s |\n|---|", shutdownTook, len(records), strings.Join(outcomeNames[:], " | "))
	for range numOutcomes {
		tbl.WriteString("---|")
	}
	for _, row := range []struct {
		name string
		n    [numOutcomes]int
	}{{"before Shutdown", before}, {"while Shutdown began", straddling}, {"after Shutdown began", after}} {
		fmt.Fprintf(&tbl, "\n| %s |", row.name)
		for _, n := range row.n {
			fmt.Fprintf(&tbl, " %d |", n)
		}
	}
	t.Log("\n" + tbl.String())
	assert.Positive(t, before[outOK])
	assert.Empty(t, violations, "requests not completed or not refused cleanly")
	assert.Empty(t, backlogLost, "requests fully sent on a new connection before Shutdown began must be "+
		"answered (Shutdown takes the connections in the kernel's accept queue before closing the socket)")
	requireNoConns(t, srv, 5*time.Second)
	assert.Empty(t, tmpEntries(t, tmp), "no temp file left")
}

// TestShutdownServesAcceptQueue: clients whose connections the kernel
// accepted while the listener was stopped, each with its request fully
// sent, are all answered by a graceful Shutdown instead of being reset when
// the listening socket closes.
func TestShutdownServesAcceptQueue(t *testing.T) {
	for _, mode := range []struct{ perListener, threading bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		perListener := mode.perListener
		t.Run(fmt.Sprintf("listener=%v/threading=%v", perListener, mode.threading), func(t *testing.T) {
			leakCheck(t)
			srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: mode.threading}, func(c *CGI) { c.Print("ok ", c.Path()) })
			l.Stop()
			const n = 20
			var conns []net.Conn
			for i := range n {
				c, _ := rawConn(t, l)
				_, err := fmt.Fprintf(c, "GET /q%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
				require.NoError(t, err)
				conns = append(conns, c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if perListener {
				require.NoError(t, l.Shutdown(ctx))
			} else {
				require.NoError(t, srv.Shutdown(ctx))
			}
			for i, c := range conns {
				br := bufio.NewReader(c)
				resp, body := readResponse(t, br, "GET")
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, fmt.Sprintf("ok /q%d", i), body)
				assert.True(t, resp.Close, "answered with Connection: close")
				expectClosed(t, br)
			}
		})
	}
}

// TestShutdownWithEveryConnSlotHeld: with MaxConns taken by a request that
// does not end, Shutdown still returns when its context ends (the accept
// loop waiting for a slot must not hold it), and Close then cuts the rest.
func TestShutdownWithEveryConnSlotHeld(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	srv, l, _ := testServer(t, Options{MaxConns: 1}, ListenOptions{Threading: true}, func(c *CGI) {
		<-release
		c.Print("ok")
	})
	defer close(release)
	held, _ := rawConn(t, l)
	io.WriteString(held, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Eventually(t, func() bool { return serverConns(srv) == 1 }, 5*time.Second, 5*time.Millisecond)
	queued, _ := rawConn(t, l)
	io.WriteString(queued, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown ignored its context while every connection slot was held")
	}
}

// TestCloseWithEveryConnSlotHeld: Close (and a listener's Close) must not
// wait for a MaxConns slot to free up: the accept loop waiting for one is
// woken, and the connection holding the slot is cut.
func TestCloseWithEveryConnSlotHeld(t *testing.T) {
	for _, perListener := range []bool{false, true} {
		t.Run(fmt.Sprint("listener=", perListener), func(t *testing.T) {
			leakCheck(t)
			srv, l, base := testServer(t, Options{MaxConns: 1}, ListenOptions{}, func(c *CGI) { c.Print("ok") })
			hc := client()
			defer hc.CloseIdleConnections()
			resp, err := hc.Get(base) // stays open, idle: the only slot is held
			require.NoError(t, err)
			_, _ = io.ReadAll(resp.Body) // read to the end, or the client closes the connection
			resp.Body.Close()
			require.Eventually(t, func() bool { return strings.Contains(allStacks(), "acquireConn") }, 5*time.Second,
				5*time.Millisecond, "the accept loop waits for a slot")
			done := make(chan error, 1)
			go func() {
				if perListener {
					done <- l.Close()
				} else {
					done <- srv.Close()
				}
			}()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("Close waited for a connection slot")
			}
		})
	}
}

// TestShutdownAfterKeepAliveHead: a response whose head went out with
// keep-alive before Shutdown began must not be followed by a close that
// drops the client's next request, already sent: it is answered, with
// Connection: close. (TestShutdownUnderLoad hit this now and then: the
// connection decided to close after the response, though its head had
// promised otherwise and the next request was on its way.)
func TestShutdownAfterKeepAliveHead(t *testing.T) {
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			leakCheck(t)
			flushed, release := make(chan struct{}), make(chan struct{})
			srv, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
				if c.Param("n") != "1" {
					c.Print("second")
					return
				}
				c.Print("first ")
				c.Flush() // the head goes out now, with keep-alive
				close(flushed)
				<-release
				c.Print("done")
			})
			conn, br := rawConn(t, l)
			// Both requests at once: the second is there when the first ends.
			io.WriteString(conn, "GET /?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
			<-flushed
			first, err := http.ReadResponse(br, nil) // the head has arrived
			require.NoError(t, err)
			assert.False(t, first.Close, "the head went out before the shutdown")
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				shut <- srv.Shutdown(ctx)
			}()
			// Until Shutdown has marked the connection closing (once its
			// socket is closed), a response still keeps it alive.
			require.Eventually(t, func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				for c := range srv.conns {
					if !c.closing.Load() {
						return false
					}
				}
				return srv.shutting
			}, 5*time.Second, time.Millisecond)
			close(release)
			body, err := io.ReadAll(first.Body)
			require.NoError(t, err)
			assert.Equal(t, "first done", string(body))
			resp, second := readResponse(t, br, "GET")
			assert.Equal(t, "second", second, "the request sent before the shutdown is answered")
			assert.True(t, resp.Close)
			expectClosed(t, br)
			require.NoError(t, <-shut)
		})
	}
}
