package httpev

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// LogEntry describes one finished exchange for OnResponseLog (SimpleHTTP's
// LOG2HANDLER).
type LogEntry struct {
	// CGI is the request, nil when it was too malformed to have one.
	CGI        *CGI
	RemoteAddr string    // client IP (X-Real-IP with Options.Backend)
	Time       time.Time // when the request head arrived: the socket read that brought its last bytes (pipelined requests share their batch's)
	Duration   time.Duration
	Method     string
	URI        string // REQUEST_URI
	Proto      string
	Status     int   // 0 when the client got no response at all
	Bytes      int64 // body bytes sent
	Referer    string
	UserAgent  string
	User       string // the Basic-auth user, if any
	Err        error  // why the request was dropped, if it was
}

// AccessLog returns an OnResponseLog that writes Apache combined-format
// lines to w, one Write per line; writes are serialized so any io.Writer
// will do.
func AccessLog(w io.Writer) func(LogEntry) {
	var mu sync.Mutex
	var buf []byte
	return func(e LogEntry) {
		mu.Lock()
		defer mu.Unlock()
		buf = appendCombined(buf[:0], &e)
		_, _ = w.Write(buf)
	}
}

// appendCombined formats e as %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i".
func appendCombined(b []byte, e *LogEntry) []byte {
	b = append(b, dash(e.RemoteAddr)...)
	b = append(b, " - "...)
	b = append(b, dash(e.User)...)
	b = append(b, " ["...)
	b = e.Time.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	if e.Method != "" {
		b = appendQuoted(b, e.Method+" "+e.URI+" "+e.Proto)
	} else {
		b = append(b, '-')
	}
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	if e.Bytes > 0 {
		b = strconv.AppendInt(b, e.Bytes, 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, " \""...)
	b = appendQuoted(b, dash(e.Referer))
	b = append(b, "\" \""...)
	b = appendQuoted(b, dash(e.UserAgent))
	return append(b, "\"\n"...)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendQuoted escapes quotes, backslashes and control bytes the way
// Apache does, so a hostile User-Agent cannot forge log lines.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

// logEntry assembles the entry for a finished request.
func (q *CGI) logEntry() LogEntry {
	r := &q.cn.req
	q.out.mu.Lock()
	status, sent := 0, q.out.sent
	if q.resp.sent {
		status = q.resp.code()
	}
	q.out.mu.Unlock()
	if q.rejected != 0 {
		status = int(q.rejected)
	}
	user, _, _ := q.BasicAuth()
	return LogEntry{
		CGI: q, RemoteAddr: q.remoteAddr().Addr().String(), Time: q.from, Duration: time.Since(q.from),
		Method: q.Method(), URI: q.requestURI(), Proto: string(r.Proto), Status: status, Bytes: sent,
		Referer: string(r.Get("Referer")), UserAgent: string(r.Get("User-Agent")), User: user, Err: q.Err(),
	}
}
