package httpev

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync/atomic"
)

// Handler is one row of a handler table, SimpleHTTP's {DIR, EVENT} pair:
// requests whose path matches Dir (a regular expression, usually anchored:
// "^/static/") run Func.
type Handler struct {
	Dir  string
	Func func(c *CGI)
}

// HandlerTable routes requests by path through an ordered list of handlers:
// the first whose Dir matches runs, no match answers 404. It exists for
// code coming from POE::Component::Server::SimpleHTTP's HANDLERS; the table
// can be read and replaced while requests flow (GETHANDLERS/SETHANDLERS).
// Matching costs one regexp match per row tried.
type HandlerTable struct {
	rows atomic.Pointer[[]route]
	// BadRequest, when set, receives requests the server rejects as
	// malformed (see ListenOptions.OnBadRequest) when the table is served
	// with Server.ListenHandlers.
	BadRequest func(c *CGI)
}

type route struct {
	h  Handler
	re *regexp.Regexp
}

// NewHandlerTable compiles handlers into a table; a bad pattern is an error.
func NewHandlerTable(handlers []Handler) (*HandlerTable, error) {
	t := &HandlerTable{}
	if err := t.SetHandlers(handlers); err != nil {
		return nil, err
	}
	return t, nil
}

// Handlers returns a copy of the table's rows; changing it changes nothing
// until passed to SetHandlers.
func (t *HandlerTable) Handlers() []Handler {
	rows := *t.rows.Load()
	out := make([]Handler, len(rows))
	for i, r := range rows {
		out[i] = r.h
	}
	return out
}

// SetHandlers validates every row and then replaces the table atomically:
// requests already routed keep their handler, later ones see the new
// table. On error the old table stays in place.
func (t *HandlerTable) SetHandlers(handlers []Handler) error {
	rows := make([]route, len(handlers))
	for i, h := range handlers {
		if h.Func == nil {
			return fmt.Errorf("httpev: handler %d (%q) has no Func", i, h.Dir)
		}
		re, err := regexp.Compile(h.Dir)
		if err != nil {
			return fmt.Errorf("httpev: handler %d: %w", i, err)
		}
		rows[i] = route{h: h, re: re}
	}
	t.rows.Store(&rows)
	return nil
}

// Serve is the table as a request callback, for Server.Listen.
func (t *HandlerTable) Serve(c *CGI) {
	path := c.Path()
	for _, r := range *t.rows.Load() {
		if m := r.re.FindStringSubmatch(path); m != nil {
			c.route = &dirRoute{dir: r.h.Dir, match: m}
			r.h.Func(c)
			return
		}
	}
	c.Header(http.Header{"Status": {"404 Not Found"}, "Content-Type": {"text/plain; charset=utf-8"}})
	c.Print("404 Not Found\n")
}

// Dir returns the pattern of the handler-table row that routed this
// request, "" when it was not routed by a table.
func (q *CGI) Dir() string {
	if q.route == nil {
		return ""
	}
	return q.route.dir
}

// dirRoute is what a handler table's routing found, kept apart from the
// request object, which requests not routed by a table should not pay for.
type dirRoute struct {
	dir   string
	match []string
}

// DirMatch returns what the routing pattern matched: the whole match, then
// its submatches (FindStringSubmatch).
func (q *CGI) DirMatch() []string {
	if q.route == nil {
		return nil
	}
	return q.route.match
}

// ListenHandlers listens on addr with a handler table, routing malformed
// requests to t.BadRequest when it is set.
func (s *Server) ListenHandlers(addr any, t *HandlerTable, opts ListenOptions) (*PortListener, error) {
	if t == nil || t.rows.Load() == nil {
		return nil, errors.New("httpev: ListenHandlers needs a table from NewHandlerTable")
	}
	if opts.OnBadRequest == nil && t.BadRequest != nil {
		opts.OnBadRequest = t.BadRequest
	}
	return s.Listen(addr, t.Serve, opts)
}
