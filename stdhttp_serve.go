package httpev

import (
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/httpev/httpev/internal/http1"
)

// ServeHandler returns a request callback that serves h, any http.Handler
// (an http.ServeMux, a router, a middleware chain), on httpev's engine, so
// that existing net/http code can run behind Server.Listen next to CGI
// callbacks, with httpev's limits, upload handling and threading model.
//
// The handler sees a regular *http.Request built from the CGI, with these
// differences from net/http's own server:
//
//   - Form bodies are parsed by the engine before the handler runs:
//     r.Form, r.PostForm and, for multipart, r.MultipartForm.Value are
//     filled in (decoded as the CGI decodes them, LegacyCharset included)
//     and r.Body is empty. Uploaded files are not in r.MultipartForm.File
//     (r.FormFile reports http.ErrMissingFile): they are on disk already,
//     reach them with RequestCGI(r).File(name). Other bodies are streamed
//     from the connection as r.Body.
//   - r.RemoteAddr honours Options.Backend (X-Real-IP); r.TLS is set on a
//     TLS listener; r.Context() is the CGI's Context plus
//     http.LocalAddrContextKey, built on first use of its Done or Err
//     (watching for a vanished client costs a goroutine, so a handler
//     that never looks pays nothing).
//   - The ResponseWriter buffers like the CGI: output goes out when it
//     passes Options.FlushThreshold, on Flush (http.Flusher and
//     http.ResponseController work), or when the handler returns. A write
//     that would pass Options.MaxBuffered waits for the client on a
//     Threading-on listener; on a Threading-off one it cannot wait and
//     fails with ErrBufferFull, so serve handlers that write large
//     responses with Threading on.
//   - Without a Content-Type the first written bytes are sniffed, as in
//     net/http, but an empty 200 response still gets the engine's
//     text/html. 1xx responses and trailers are not sent. Hijack hands over
//     the connection (CGI.GiveUpHandle), so WebSocket libraries work.
//   - panic(http.ErrAbortHandler) drops the request (CGI.Drop); other
//     panics are recovered by the engine as for any callback.
//   - The head is settled when the handler returns, so a handler that
//     answers later passes w to RequestCGI(r).Async, whose functions run
//     after that, not to a goroutine of its own started with Keep, which
//     would race with it.
//
// The handler runs where any callback runs: with ListenOptions.Threading
// off on the Server's single loop goroutine, one at a time, so it must
// not block, which rules out reading a streamed r.Body or anything slow;
// handlers written for net/http usually expect their own goroutine and
// should be served with Threading on. A request costs about eight
// allocations more than a CGI callback's (the http.Request, its header
// map, one string for all its text, the writer, the handler's header map;
// BenchmarkServeHandler), plus a few per form field.
func ServeHandler(h http.Handler) func(*CGI) {
	return func(c *CGI) {
		st := &handlerState{w: responseWriter{c: c, header: make(http.Header)}, ctx: handlerContext{c: c}}
		w := &st.w
		r := newHTTPRequest(c, st)
		returned := false
		defer func() {
			if returned {
				w.finish()
				return
			}
			switch v := recover(); v {
			case nil: // runtime.Goexit, as from t.FailNow: let it go on
				w.settle()
			case http.ErrAbortHandler:
				c.Drop()
			default:
				panic(v)
			}
		}()
		h.ServeHTTP(w, r)
		returned = true
	}
}

// handlerState is what ServeHandler allocates for a request besides the
// http.Request and the header maps, in one piece: the ResponseWriter, the
// request's context and its URL. Nothing in it is reused: a handler may
// keep r.URL or the context after it returns, as with net/http.
type handlerState struct {
	w   responseWriter
	ctx handlerContext
	url url.URL
}

type cgiContextKey struct{}

// RequestCGI returns the CGI behind a request made by ServeHandler, for
// what the http.Request does not carry: received files (File, Files),
// Keep, Stream and the rest of the CGI API. It returns nil for a request
// that did not come from ServeHandler.
func RequestCGI(r *http.Request) *CGI {
	c, _ := r.Context().Value(cgiContextKey{}).(*CGI)
	return c
}

// RequestHeader returns the request's header fields, names in canonical
// form, values in arrival order: the raw material of the HTTP_* variables,
// for code that wants an http.Header rather than CGI names. The map is a
// copy. It is also the only way to read a header whose name contains '_'
// (X_Real_IP arrives as "X_real_ip"), which has no HTTP_* variable (see
// CGI.Env).
func (q *CGI) RequestHeader() http.Header {
	h, _ := q.requestHeader(false)
	return h
}

// requestHeader builds the header map the way net/http's reader does: the
// values share one string and one []string backing, and common names are
// not allocated, so the map costs a few allocations per request rather
// than two per field. noHost leaves Host out (an http.Request carries it
// in its own field). The pieces in pre are copied to the front of the
// same string, which is returned: the other strings of an http.Request
// (target, host, client address) cost no allocation of their own.
func (q *CGI) requestHeader(noHost bool, pre ...[]byte) (http.Header, string) {
	fields := q.cn.req.Headers
	n, size := 0, 0
	for _, p := range pre {
		size += len(p)
	}
	preLen := size
	for _, f := range fields {
		if noHost && isHost(f.Name) {
			continue
		}
		n++
		size += len(f.Value)
	}
	h := make(http.Header, n)
	if size == 0 {
		return h, ""
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, p := range pre {
		sb.Write(p)
	}
	for _, f := range fields {
		if !(noHost && isHost(f.Name)) {
			sb.Write(f.Value)
		}
	}
	all := sb.String()
	if n == 0 {
		return h, all
	}
	vals := make([]string, n)
	i, off := 0, preLen
	for _, f := range fields {
		if noHost && isHost(f.Name) {
			continue
		}
		v := all[off : off+len(f.Value)]
		off += len(f.Value)
		k := headerKey(f.Name)
		if old := h[k]; old != nil {
			h[k] = append(old, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
		i++
	}
	return h, all[:preLen]
}

// isHost reports a Host field name, in any case; called for every field
// three times per request, so it compares the bytes itself.
func isHost(name []byte) bool {
	return len(name) == 4 && name[0]|0x20 == 'h' && name[1]|0x20 == 'o' && name[2]|0x20 == 's' && name[3]|0x20 == 't'
}

// commonHeaders interns the field names clients send most, keyed by their
// canonical spelling (which most clients use), so that looking one up
// allocates nothing.
var commonHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Cookie", "Dnt",
		"Expect", "Forwarded", "Host", "If-Match", "If-Modified-Since", "If-None-Match",
		"Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Fetch-User", "Te", "Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests",
		"User-Agent", "Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Request-Id", "X-Requested-With",
	} {
		m[k] = k
	}
	return m
}()

// headerKey is the canonical form of a field name.
func headerKey(name []byte) string {
	if k, ok := commonHeaders[string(name)]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

// newHTTPRequest builds the net/http view of a CGI. Its strings (target,
// host, header values) are copied from the connection's buffer into one
// string, the client address is the connection's (remoteAddrText), and
// its URL is st's.
func newHTTPRequest(c *CGI, st *handlerState) *http.Request {
	req := &c.cn.req
	target := req.Target
	if !c.targetIsURI() {
		target = []byte(c.requestURI())
	}
	header, text := c.requestHeader(true, target, req.Host)
	uri := text[:len(target)]
	host := text[len(uri) : len(uri)+len(req.Host)]
	u := &st.url
	if !parseOriginForm(uri, u) {
		pu, err := url.ParseRequestURI(uri)
		if err != nil {
			pu = &url.URL{Path: c.Path(), RawQuery: c.Env("QUERY_STRING")}
		}
		*u = *pu
	}
	r := &http.Request{
		Method: c.Method(), URL: u, RequestURI: uri,
		Proto: protoString(req), ProtoMajor: req.Major, ProtoMinor: req.Minor,
		Header: header, Host: host, Close: req.Close,
		RemoteAddr: c.remoteAddrText(),
		Body:       http.NoBody,
	}
	if req.Chunked {
		r.TransferEncoding = []string{"chunked"}
		delete(header, "Transfer-Encoding")
	}
	var media string
	if len(req.ContentType) > 0 {
		media, _, _ = mime.ParseMediaType(c.Env("CONTENT_TYPE"))
	}
	parsed := media == "application/x-www-form-urlencoded" || media == "multipart/form-data" ||
		((req.Chunked || req.ContentLength > 0) && rawBodyFile(c))
	switch {
	case parsed:
	case req.Chunked:
		r.ContentLength = -1
		r.Body = io.NopCloser(c.Body())
	case req.ContentLength > 0:
		r.ContentLength = req.ContentLength
		r.Body = io.NopCloser(c.Body())
	}
	// Without a query or a form body both stay nil, as in net/http before
	// ParseForm, which then finds nothing: two maps a request saved.
	if u.RawQuery != "" || parsed {
		r.Form, r.PostForm = formValues(c)
	}
	if media == "multipart/form-data" {
		r.MultipartForm = &multipart.Form{Value: r.PostForm, File: map[string][]*multipart.FileHeader{}}
	}
	if cs, ok := c.Conn().(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := cs.ConnectionState()
		r.TLS = &st
	}
	return r.WithContext(&st.ctx)
}

// remoteAddrText is r.RemoteAddr. The peer's is formatted once per
// connection, as net/http does: about a tenth of what ServeHandler adds to
// a request (BenchmarkServeHandlerAdapter). With Options.Backend the
// address can come from each request's X-Real-IP, so it is formatted
// every time.
func (q *CGI) remoteAddrText() string {
	if q.cn.srv.opts.Backend {
		return q.remoteAddr().String()
	}
	c := q.cn
	if p := c.raddrText.Load(); p != nil {
		return *p
	}
	s := q.remoteAddr().String()
	c.raddrText.Store(&s)
	return s
}

// protoString is r.Proto without an allocation for the two versions the
// engine accepts.
func protoString(r *http1.Request) string {
	switch {
	case r.Major == 1 && r.Minor == 1:
		return "HTTP/1.1"
	case r.Major == 1 && r.Minor == 0:
		return "HTTP/1.0"
	}
	return string(r.Proto)
}

// parseOriginForm is url.ParseRequestURI for the target nearly every
// request has, without its allocation: a path of characters that need no
// escaping, then an optional query without control bytes. It reports false
// for anything else (escapes, absolute form, "*"), which is left to
// ParseRequestURI; TestParseOriginForm holds the two to the same result.
func parseOriginForm(s string, u *url.URL) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	path, query, hasQuery := strings.Cut(s, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return true
}

// plainPathByte marks the bytes a URL path keeps as they are: with only
// these, url.URL's Path is the target's path and RawPath is empty.
var plainPathByte = func() (t [256]bool) {
	for _, c := range []byte("$&+,-./:;=@_~") {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	return t
}()

// rawBodyFile reports a body the engine put into a temp file
// (ListenOptions.RawBodyToFile): it shows up as a file without a field.
func rawBodyFile(c *CGI) bool {
	for _, f := range c.Files() {
		if f.FieldName() == "" {
			return true
		}
	}
	return false
}

// formValues returns the CGI's parameters the way net/http's ParseForm
// arranges them: PostForm the body's, Form the body's first, then the
// query's. One pass over each list: a lookup per name would make a form
// of n fields cost n² (MaxFormFields may be set high).
func formValues(c *CGI) (form, post url.Values) {
	form, post = url.Values{}, url.Values{}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parseGetLocked()
	for _, p := range c.in.posted() {
		post[p.Name] = append(post[p.Name], p.Value)
		form[p.Name] = append(form[p.Name], p.Value)
	}
	for _, p := range c.in.query() {
		form[p.Name] = append(form[p.Name], p.Value)
	}
	return form, post
}
