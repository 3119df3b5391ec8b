package httpev

import (
	"net/http"
	"time"
)

// handlerContext is r.Context() for a ServeHandler request: the CGI's
// Context (which starts watching for the client leaving only when waited
// on) with the two values a net/http handler may look up: RequestCGI's key
// and http.LocalAddrContextKey.
type handlerContext struct {
	c *CGI
}

var _ interface {
	AfterFunc(func()) func() bool
} = (*handlerContext)(nil)

func (x *handlerContext) Deadline() (time.Time, bool) { return x.c.rc.Deadline() }

func (x *handlerContext) Done() <-chan struct{} { return x.c.rc.Done() }

func (x *handlerContext) Err() error { return x.c.rc.Err() }

func (x *handlerContext) Value(key any) any {
	switch key {
	case cgiContextKey{}:
		return x.c
	case http.LocalAddrContextKey:
		return x.c.Conn().LocalAddr()
	}
	return x.c.rc.Value(key)
}

// AfterFunc lets context.WithCancel and WithTimeout on r.Context() hook
// the CGI's Context directly: without it the context package would watch
// this unfamiliar parent with a goroutine per derived context.
func (x *handlerContext) AfterFunc(f func()) (stop func() bool) { return x.c.rc.AfterFunc(f) }

func (x *handlerContext) String() string { return "httpev.ServeHandler request context" }
