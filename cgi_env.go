package httpev

import (
	"bytes"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/httpev/httpev/internal/form"
)

// Env returns one CGI/1.1 (RFC 3875) environment variable of the request:
// REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME (the path), DOCUMENT_URI (the
// path, percent-decoded), QUERY_STRING, SERVER_PROTOCOL, REMOTE_ADDR,
// REMOTE_PORT, SERVER_ADDR, SERVER_PORT, SERVER_NAME, SERVER_SOFTWARE,
// GATEWAY_INTERFACE, CONTENT_TYPE, CONTENT_LENGTH, HTTPS ("on" over TLS) and
// HTTP_* for every header (HTTP_X_REAL_IP for X-Real-IP; repeated headers
// joined with ", "). It returns "" for an unset variable. Values are
// computed on demand; Envs builds them all.
//
// A header whose name contains '_' (X_Real_IP) has no HTTP_* variable:
// its CGI name would be the same as that of the '-' spelling, which a
// proxy in front may have set, so a client could spoof or extend it (Apache
// and nginx drop such headers for the same reason). Such headers stay
// readable, under their own names, through RequestHeader.
func (q *CGI) Env(name string) string {
	r := &q.cn.req
	switch name {
	case "REQUEST_METHOD":
		return methodString(r.Method)
	case "REQUEST_URI":
		return q.requestURI()
	case "SCRIPT_NAME":
		return string(r.Path)
	case "DOCUMENT_URI":
		p := string(r.Path)
		if u, err := url.PathUnescape(p); err == nil {
			return u
		}
		return p
	case "QUERY_STRING":
		return string(r.RawQuery)
	case "SERVER_PROTOCOL":
		return string(r.Proto)
	case "REMOTE_ADDR":
		return q.remoteAddr().Addr().String()
	case "REMOTE_PORT":
		return strconv.Itoa(int(q.remoteAddr().Port()))
	case "SERVER_ADDR", "SERVER_PORT":
		ap := addrPort(q.cn.laddr)
		if name == "SERVER_ADDR" {
			return ap.Addr().String()
		}
		return strconv.Itoa(int(ap.Port()))
	case "SERVER_NAME":
		h := string(r.Host)
		if h == "" {
			return q.cn.srv.opts.Hostname
		}
		if host, _, err := net.SplitHostPort(h); err == nil {
			return host
		}
		return h
	case "SERVER_SOFTWARE":
		return q.cn.srv.opts.ServerName
	case "GATEWAY_INTERFACE":
		return "CGI/1.1"
	case "CONTENT_TYPE":
		return string(r.ContentType)
	case "CONTENT_LENGTH":
		if r.ContentLength < 0 {
			return ""
		}
		return strconv.FormatInt(r.ContentLength, 10)
	case "HTTPS":
		if q.cn.isTLS() {
			return "on"
		}
		return ""
	}
	if h, ok := strings.CutPrefix(name, "HTTP_"); ok {
		return q.headerByEnvName(h)
	}
	return ""
}

var envNames = []string{"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "DOCUMENT_URI",
	"QUERY_STRING", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "SERVER_ADDR",
	"SERVER_PORT", "SERVER_NAME", "SERVER_SOFTWARE", "GATEWAY_INTERFACE", "CONTENT_TYPE",
	"CONTENT_LENGTH", "HTTPS"}

// Envs returns the whole CGI environment as a map, the %ENV a CGI script
// would see; unset variables are left out.
func (q *CGI) Envs() map[string]string {
	env := make(map[string]string, len(envNames)+len(q.cn.req.Headers))
	for _, n := range envNames {
		if v := q.Env(n); v != "" {
			env[n] = v
		}
	}
	for _, h := range q.cn.req.Headers {
		if bytes.IndexByte(h.Name, '_') >= 0 {
			continue // see Env
		}
		n := "HTTP_" + envHeaderName(h.Name)
		if _, done := env[n]; !done {
			env[n] = q.Env(n)
		}
	}
	return env
}

// envHeaderName turns a header name into its CGI form: X-Real-IP → X_REAL_IP.
func envHeaderName(b []byte) string {
	s := []byte(string(b))
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
			s[i] = c - 'a' + 'A'
		case c == '-':
			s[i] = '_'
		}
	}
	return string(s)
}

// headerByEnvName finds the headers whose CGI name is h (X_REAL_IP), without
// allocating unless found.
func (q *CGI) headerByEnvName(h string) string {
	var out string
	found := false
	for _, f := range q.cn.req.Headers {
		if !envNameEqual(f.Name, h) {
			continue
		}
		if found {
			sep := ", "
			if h == "COOKIE" {
				sep = "; "
			}
			out += sep + string(f.Value)
		} else {
			out, found = string(f.Value), true
		}
	}
	return out
}

// envNameEqual reports whether a header's CGI name is env. A name with '_'
// has none (see Env).
func envNameEqual(name []byte, env string) bool {
	if len(name) != len(env) {
		return false
	}
	for i, c := range name {
		e := env[i]
		switch {
		case c == '_':
			return false
		case c == '-':
			c = '_'
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		if c != e {
			return false
		}
	}
	return true
}

func methodString(m []byte) string {
	switch string(m) { // the compiler does not allocate for this switch
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	}
	return string(m)
}

// targetIsURI reports a request target that is REQUEST_URI as it is: all
// but an absolute-form target outside ProxyMode, which is cut to its path
// and query.
func (q *CGI) targetIsURI() bool {
	r := &q.cn.req
	return q.cn.srv.opts.ProxyMode || len(r.Target) == 0 || r.Target[0] == '/' || string(r.Method) == "CONNECT" || string(r.Target) == "*"
}

// requestURI is the target as received, except that an absolute-form
// target is cut to its path and query unless Options.ProxyMode is set.
func (q *CGI) requestURI() string {
	r := &q.cn.req
	if q.targetIsURI() {
		return string(r.Target)
	}
	u := string(r.Path)
	if u == "" {
		u = "/"
	}
	if len(r.RawQuery) > 0 {
		u += "?" + string(r.RawQuery)
	}
	return u
}

// Method returns the request method, as Env("REQUEST_METHOD").
func (q *CGI) Method() string { return methodString(q.cn.req.Method) }

// Path returns the request path without the query, as Env("SCRIPT_NAME").
func (q *CGI) Path() string { return string(q.cn.req.Path) }

// RemoteAddr returns the client's address: the peer, or with
// Options.Backend the X-Real-IP a trusted proxy set.
func (q *CGI) RemoteAddr() netip.AddrPort { return q.remoteAddr() }

func (q *CGI) remoteAddr() netip.AddrPort {
	peer := addrPort(q.cn.raddr)
	if !q.cn.srv.opts.Backend || !q.cn.srv.trustsProxy(peer.Addr()) {
		return peer
	}
	v := q.cn.req.Get("X-Real-IP")
	if v == nil {
		return peer
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(string(v)))
	if err != nil {
		return peer
	}
	return netip.AddrPortFrom(ip.Unmap(), peer.Port())
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return ap
}

// Get returns every value of a query-string parameter, in order.
func (q *CGI) Get(name string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parseGetLocked()
	return values(q.in.query(), name)
}

// Post returns every value of a form field of the body (urlencoded or
// multipart), in order.
func (q *CGI) Post(name string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return values(q.in.posted(), name)
}

// Param returns the first value of a parameter, the query string first,
// then the body; "" when absent.
func (q *CGI) Param(name string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parseGetLocked()
	for _, src := range [2][]form.Pair{q.in.query(), q.in.posted()} {
		for _, p := range src {
			if p.Name == name {
				return p.Value
			}
		}
	}
	return ""
}

// Params returns every value of a parameter: the query string's, then the
// body's.
func (q *CGI) Params(name string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parseGetLocked()
	return append(values(q.in.query(), name), values(q.in.posted(), name)...)
}

// ParamNames returns the names of all parameters, query string first, each
// once, in the order they first appear: CGI.pm's param() without arguments.
func (q *CGI) ParamNames() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parseGetLocked()
	var names []string
	seen := map[string]bool{}
	for _, src := range [2][]form.Pair{q.in.query(), q.in.posted()} {
		for _, p := range src {
			if !seen[p.Name] {
				seen[p.Name] = true
				names = append(names, p.Name)
			}
		}
	}
	return names
}

// Cookie returns the value of a request cookie, "" when absent.
func (q *CGI) Cookie(name string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.parsedCk {
		q.parsedCk = true
		for _, f := range q.cn.req.Headers {
			if envNameEqual(f.Name, "COOKIE") {
				// A cookie header past the limits keeps the pairs read so far.
				in := q.inputLocked()
				in.cookies, _ = q.cn.srv.cookieDec.ParseCookies(in.cookies, f.Value)
			}
		}
	}
	for _, p := range q.in.cookieList() {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// CookieNames returns the names of the request's cookies, in order, each
// once.
func (q *CGI) CookieNames() []string {
	q.Cookie("") // parse
	q.mu.Lock()
	defer q.mu.Unlock()
	var names []string
	seen := map[string]bool{}
	for _, p := range q.in.cookieList() {
		if !seen[p.Name] {
			seen[p.Name] = true
			names = append(names, p.Name)
		}
	}
	return names
}

// File returns the files received in a multipart field, in order.
func (q *CGI) File(name string) []*MultipartFile {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*MultipartFile
	for _, f := range q.in.fileList() {
		if f.field == name {
			out = append(out, f)
		}
	}
	return out
}

// Files returns every received file, in arrival order.
func (q *CGI) Files() []*MultipartFile {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*MultipartFile(nil), q.in.fileList()...)
}

func (q *CGI) parseGetLocked() {
	if q.parsedGet {
		return
	}
	q.parsedGet = true
	if len(q.cn.req.RawQuery) == 0 {
		return // nothing to decode, nothing to allocate
	}
	// checkRequest measured it against the same decoder's limits, so this cannot fail.
	in := q.inputLocked()
	in.get, _ = q.cn.srv.queryDec.ParseQuery(in.get, q.cn.req.RawQuery)
}

// cgiInput holds the decoded query string, form fields, cookies and
// received files, and the pause of an upload (Stop), allocated only for a
// request that has one of them: most small requests have none, and every
// byte of the request object is paid on every request (see bufferConfig).
type cgiInput struct {
	get     []form.Pair
	post    []form.Pair
	cookies []form.Pair
	files   []*MultipartFile
	resume  chan struct{} // non-nil while Stop pauses the body
}

// inputLocked returns q's decoded input, allocating it (q.mu held).
func (q *CGI) inputLocked() *cgiInput {
	if q.in == nil {
		q.in = new(cgiInput)
	}
	return q.in
}

// query returns the decoded query string; in may be nil.
func (in *cgiInput) query() []form.Pair {
	if in == nil {
		return nil
	}
	return in.get
}

// posted returns the decoded form fields; in may be nil.
func (in *cgiInput) posted() []form.Pair {
	if in == nil {
		return nil
	}
	return in.post
}

// fileList returns the received files; in may be nil.
func (in *cgiInput) fileList() []*MultipartFile {
	if in == nil {
		return nil
	}
	return in.files
}

// cookieList returns the decoded cookies; in may be nil.
func (in *cgiInput) cookieList() []form.Pair {
	if in == nil {
		return nil
	}
	return in.cookies
}

func values(src []form.Pair, name string) []string {
	var out []string
	for _, p := range src {
		if p.Name == name {
			out = append(out, p.Value)
		}
	}
	return out
}
