package httpev

import (
	"context"
	"time"
)

// The drain window. HTTP/1.1 has no way to tell an idle keep-alive client
// that the server is leaving: a client may have sent its next request on a
// connection the server is about to close, and it finds the connection
// reset with the request unanswered (wrk -c50 and SIGTERM lost 13-18
// requests per shutdown that way; net/http's Shutdown loses one per
// connection). So a graceful shutdown closes an idle connection only once
// the window has passed with nothing read: a request that arrives in it is
// served and answered with Connection: close, and the client opens its next
// connection elsewhere (the new process of a restart, another instance
// behind the balancer). Requests in flight are not affected: they finish
// as before.
//
// The window belongs to the listener (drainBy), so that Server.Shutdown and
// PortListener.Shutdown open it alike; a connection reads it through c.l.

// defaultDrainWindow is long enough for a request a client sent just
// before the shutdown to arrive, and for a busy client to send one more
// request and see the close; short enough not to hold a restart up.
const defaultDrainWindow = time.Second

// drainWindowEnd is when idle connections close in a graceful shutdown that
// begins now with ctx: Options.DrainWindow from now, but at most half of
// what ctx leaves, so that the idle connections are gone well before ctx
// ends and Shutdown can still succeed. Zero means no window.
func (s *Server) drainWindowEnd(ctx context.Context) time.Time {
	w := s.opts.DrainWindow
	if w <= 0 || ctx.Err() != nil {
		return time.Time{}
	}
	now := time.Now()
	if d, ok := ctx.Deadline(); ok {
		w = min(w, d.Sub(now)/2)
		if w <= 0 {
			return time.Time{}
		}
	}
	return now.Add(w)
}

// openDrainWindow starts l's drain window, ending at end (zero: none). A
// second Shutdown keeps the first one's window.
func (l *PortListener) openDrainWindow(end time.Time) {
	if !end.IsZero() {
		l.drainBy.CompareAndSwap(0, end.UnixNano())
	}
}

// inDrainWindow reports whether c, closing, may still wait for a request.
func (c *conn) inDrainWindow() bool {
	by := c.l.drainBy.Load()
	return by != 0 && time.Now().UnixNano() < by
}

// drainDeadline is the read deadline of an idle wait on a closing
// connection: the end of its listener's drain window, or a time long past
// once the window has ended (or there is none), which makes a waiting read
// return at once.
func (c *conn) drainDeadline() time.Time {
	if by := c.l.drainBy.Load(); by != 0 && time.Now().UnixNano() < by {
		return time.Unix(0, by)
	}
	return aLongTimeAgo
}
