package httpev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// contextModes are the ways a connection is served, each of which ends a
// request's context its own way: Threading on or off, and with or without
// the poller (on Linux a Threading-on connection is served by the poller's
// runner and handed a goroutine when its callback blocks; NoIdlePark
// keeps a goroutine per connection throughout).
var contextModes = []struct {
	name      string
	threading bool
	noPark    bool
}{
	{"threading", true, false},
	{"threading-nopark", true, true},
	{"serial", false, false},
	{"serial-nopark", false, true},
}

func ctxGet(n int) string { return fmt.Sprintf("GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n) }

// ctxResult is what a callback saw of its request's context.
type ctxResult struct {
	errBefore error // Err while the request went on
	err       error // Err once Done closed
	cause     error
	derived   error // Err of a context.WithCancel child once it ended
	after     bool  // a context.AfterFunc registration ran
}

// waitContext blocks until ctx ends (or 5 s pass) and reports what it saw.
func waitContext(ctx context.Context) ctxResult {
	r := ctxResult{errBefore: ctx.Err()}
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan struct{})
	context.AfterFunc(ctx, func() { close(ran) })
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		r.err = errors.New("the context did not end")
		return r
	}
	r.err, r.cause = ctx.Err(), context.Cause(ctx)
	select {
	case <-child.Done():
		r.derived = child.Err()
	case <-time.After(5 * time.Second):
	}
	select {
	case <-ran:
		r.after = true
	case <-time.After(5 * time.Second):
	}
	return r
}

func (r ctxResult) check(t *testing.T) {
	t.Helper()
	assert.NoError(t, r.errBefore, "Err before the end")
	assert.Equal(t, context.Canceled, r.err, "Err")
	assert.Equal(t, context.Canceled, r.cause, "context.Cause")
	assert.Equal(t, context.Canceled, r.derived, "a derived context ends too")
	assert.True(t, r.after, "context.AfterFunc ran")
}

// TestContextEndsWhenClientLeaves: a callback that waits on its context
// (as a database driver does) sees it end when the client closes the
// connection, on the poller (the runner is handed over after a tick and
// the socket is watched from then on) and off it.
func TestContextEndsWhenClientLeaves(t *testing.T) {
	for _, m := range contextModes {
		t.Run(m.name, func(t *testing.T) {
			leakCheck(t)
			got := make(chan ctxResult, 1)
			started := make(chan struct{}, 1)
			onErr := make(chan error, 1)
			srv, l, _ := testServer(t, Options{NoIdlePark: m.noPark},
				ListenOptions{Threading: m.threading, OnError: func(c *CGI) { onErr <- c.Err() }},
				func(c *CGI) {
					ctx := c.Context()
					if c.Param("n") == "1" {
						select {
						case <-ctx.Done():
							c.Print("ended early")
						default:
							c.Print("ok 1")
						}
						return
					}
					started <- struct{}{}
					got <- waitContext(ctx)
				})
			if !m.noPark {
				startPoller(srv) // Go's sockets are watched in it too
			}
			conn, br := rawConn(t, l)
			// A first request answered at once makes a resident
			// connection of it; the second one waits.
			io.WriteString(conn, ctxGet(1))
			res, body := readResponse(t, br, "GET")
			require.Equal(t, 200, res.StatusCode)
			require.Equal(t, "ok 1", body)

			io.WriteString(conn, ctxGet(2))
			<-started
			time.Sleep(20 * time.Millisecond) // past the poller's tick
			conn.Close()
			(<-got).check(t)
			select {
			case err := <-onErr:
				assert.ErrorIs(t, err, ErrClientGone)
			case <-time.After(5 * time.Second):
				t.Fatal("OnError did not fire")
			}
		})
	}
}

// TestContextEndsWithRequest: the context ends when the response is
// complete, whether the callback returned or a kept request was closed
// from another goroutine, and the next request on the connection gets a
// context of its own, open while it runs.
func TestContextEndsWithRequest(t *testing.T) {
	for _, m := range contextModes {
		t.Run(m.name, func(t *testing.T) {
			leakCheck(t)
			ctxs := make(chan context.Context, 4)
			var n atomic.Int32
			_, l, _ := testServer(t, Options{NoIdlePark: m.noPark}, ListenOptions{Threading: m.threading},
				func(c *CGI) {
					ctx := c.Context()
					if ctx.Err() != nil {
						c.Print("ended early")
						return
					}
					ctxs <- ctx
					if n.Add(1)%2 == 0 { // a kept request, closed elsewhere
						c.Keep()
						go func() {
							time.Sleep(5 * time.Millisecond)
							if ctx.Err() != nil {
								c.Print("ended early")
							} else {
								c.Print("ok")
							}
							c.Close()
						}()
						return
					}
					c.Print("ok")
				})
			conn, br := rawConn(t, l)
			var seen []context.Context
			for i := range 4 {
				io.WriteString(conn, ctxGet(i))
				res, body := readResponse(t, br, "GET")
				require.Equal(t, 200, res.StatusCode)
				require.Equal(t, "ok", body, "request %d", i)
				ctx := <-ctxs
				r := waitContext(ctx)
				r.errBefore = nil // it had ended by the time the response was read
				r.check(t)
				for _, old := range seen {
					assert.NotSame(t, old, ctx, "a context per request")
				}
				seen = append(seen, ctx)
			}
		})
	}
}

// TestContextEndsWhenServerCloses: Server.Close ends the context of a
// request in flight, while a graceful Shutdown lets it finish with its
// context open.
func TestContextEndsWhenServerCloses(t *testing.T) {
	for _, m := range contextModes {
		t.Run(m.name, func(t *testing.T) {
			leakCheck(t)
			got := make(chan ctxResult, 1)
			started := make(chan struct{}, 1)
			finish := make(chan struct{})
			graceful := make(chan context.Context, 1)
			srv, l, _ := testServer(t, Options{NoIdlePark: m.noPark}, ListenOptions{Threading: m.threading},
				func(c *CGI) {
					ctx := c.Context()
					if c.Param("n") == "1" { // the graceful shutdown's request
						graceful <- ctx
						<-finish
						c.Print(fmt.Sprint(ctx.Err()))
						return
					}
					started <- struct{}{}
					got <- waitContext(ctx)
				})
			conn, br := rawConn(t, l)
			io.WriteString(conn, ctxGet(1))
			ctx := <-graceful
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(context.Background()) }()
			select {
			case <-ctx.Done():
				t.Fatal("a graceful shutdown ended the context of a request in flight")
			case <-time.After(50 * time.Millisecond):
			}
			close(finish)
			res, body := readResponse(t, br, "GET")
			assert.Equal(t, 200, res.StatusCode)
			assert.Equal(t, "<nil>", body, "Err while the request ran")
			require.NoError(t, <-shut)
			<-ctx.Done()

			srv2, l2, _ := testServer(t, Options{NoIdlePark: m.noPark}, ListenOptions{Threading: m.threading},
				func(c *CGI) {
					started <- struct{}{}
					got <- waitContext(c.Context())
				})
			conn2, _ := rawConn(t, l2)
			io.WriteString(conn2, ctxGet(2))
			<-started
			time.Sleep(20 * time.Millisecond) // past the poller's tick
			closed := make(chan error, 1)
			go func() { closed <- srv2.Close() }()
			(<-got).check(t)
			require.NoError(t, <-closed)
		})
	}
}

// TestContextValueAndDeadline: the request's context carries no values
// and no deadline, and Err stays nil while the request runs, even when
// asked from another goroutine.
func TestContextValueAndDeadline(t *testing.T) {
	type key struct{}
	res := make(chan string, 1)
	_, _, base := testServer(t, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
		ctx := c.Context()
		_, has := ctx.Deadline()
		errc := make(chan error)
		go func() { errc <- ctx.Err() }()
		res <- fmt.Sprint(ctx.Value(key{}), has, <-errc, ctx.Value(cgiContextKey{}))
		c.Print("ok")
	})
	_, body := get(t, base)
	assert.Equal(t, "ok", body)
	assert.Equal(t, "<nil> false <nil> <nil>", <-res)
}

// BenchmarkRequestContext is what a callback that hands its context to a
// database driver costs the context: Context, Done and one AfterFunc
// registration stopped again (a query), and the end of the request.
// WithCancel is the same with context.WithCancel of the server's context,
// which Context was until 2026-12: every request registered with it (and
// took its mutex) on both cores.
func BenchmarkRequestContext(b *testing.B) {
	srv, err := New(Options{TmpPath: b.TempDir()})
	require.NoError(b, err)
	defer srv.Close()
	b.Run("Context", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x := new(requestContext) // a field of the request's CGI
				x.watching.Store(true)   // no connection to watch here
				stop := context.AfterFunc(x, func() {})
				stop()
				x.end()
			}
		})
	})
	b.Run("WithCancel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, cancel := context.WithCancel(srv.ctx)
				stop := context.AfterFunc(ctx, func() {})
				stop()
				cancel()
			}
		})
	})
}

// TestContextWatchEndsAtGiveUp: once a callback takes the socket
// (GiveUpHandle), the watch its context started stops: the client closing
// the handed connection is the application's business, not a request
// dropped (no OnError).
func TestContextWatchEndsAtGiveUp(t *testing.T) {
	for _, m := range contextModes {
		t.Run(m.name, func(t *testing.T) {
			leakCheck(t)
			onErr := make(chan error, 1)
			done := make(chan string, 1)
			srv, l, _ := testServer(t, Options{NoIdlePark: m.noPark},
				ListenOptions{Threading: m.threading, OnError: func(c *CGI) { onErr <- c.Err() }},
				func(c *CGI) {
					ctx := c.Context()
					select { // past the poller's tick: the watch is on
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
					nc, err := c.GiveUpHandle()
					if err != nil {
						done <- err.Error()
						return
					}
					_, _ = io.WriteString(nc, "raw\n")
					b, _ := io.ReadAll(nc) // until the client closes
					_ = nc.Close()
					time.Sleep(30 * time.Millisecond) // a watch still on would fire now
					done <- string(b)
				})
			if !m.noPark {
				startPoller(srv) // Go's sockets are watched in it too
			}
			conn, br := rawConn(t, l)
			io.WriteString(conn, ctxGet(1))
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "raw\n", line)
			conn.Close()
			assert.Equal(t, "", <-done)
			select {
			case err := <-onErr:
				t.Fatalf("OnError fired for a handed socket: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}
