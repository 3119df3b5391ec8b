package httpev

import (
	"context"
	"net/http"
	"time"
)

// handlerContext is r.Context() for a ServeHandler request: the CGI's
// Context, built only when the handler asks for cancellation (Done, Err, a
// context derived from it with a cancel or a timeout). Building it starts
// the background read that notices a vanished client, which on Linux also
// moves the connection off the poller onto a goroutine of its own: done
// for every request, that cost a hello-world handler about 30% of the
// server's CPU. Most handlers never ask; Value lookups (RequestCGI,
// http.LocalAddrContextKey, the server's values) cost nothing.
type handlerContext struct {
	c *CGI
}

var _ interface {
	AfterFunc(func()) func() bool
} = (*handlerContext)(nil)

// Deadline is the server context's: the CGI's Context adds only a cancel.
func (x *handlerContext) Deadline() (time.Time, bool) { return x.c.srv.ctx.Deadline() }

func (x *handlerContext) Done() <-chan struct{} { return x.c.Context().Done() }

func (x *handlerContext) Err() error { return x.c.Context().Err() }

func (x *handlerContext) Value(key any) any {
	switch key {
	case cgiContextKey{}:
		return x.c
	case http.LocalAddrContextKey:
		return x.c.Conn().LocalAddr()
	}
	x.c.ctxMu.Lock()
	ctx := x.c.ctx
	x.c.ctxMu.Unlock()
	if ctx != nil { // built: its cancel cause is the one to report
		return ctx.Value(key)
	}
	return x.c.srv.ctx.Value(key)
}

// AfterFunc lets context.WithCancel and WithTimeout on r.Context() hook
// the CGI's Context directly: without it the context package would watch
// this unfamiliar parent with a goroutine per derived context.
func (x *handlerContext) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(x.c.Context(), f)
}

func (x *handlerContext) String() string { return "httpev.ServeHandler request context" }
