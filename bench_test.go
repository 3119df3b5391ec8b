package httpev

// Micro-benchmarks of the request path as a whole, over real loopback
// connections, and of the CGI object's hot calls. The head parser, the
// chunked decoder, the form decoder and the multipart parser have their own
// benchmarks in internal/; these measure what a request costs once they are
// wired together. Run with
//
//	go test -run '^$' -bench . -benchmem
//
// The client side of each loopback benchmark allocates nothing, so allocs/op
// is the server's.

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

const helloBody = "Just another Perl server\n"

func helloCallback(c *CGI) {
	c.Header(nil)
	_, _ = c.WriteString(helloBody)
}

var helloRequest = []byte("GET / HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\n\r\n")

// benchConn is a loopback client that reads Content-Length responses into a
// buffer it reuses, so the client side allocates nothing per request.
type benchConn struct {
	nc  net.Conn
	buf []byte
}

func dialBench(b *testing.B, addr string) *benchConn {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() }) // before the server's Close: cleanups run last-in first-out
	return &benchConn{nc: nc, buf: make([]byte, 4096)}
}

// roundTrip sends req and reads one response, returning its body.
func (c *benchConn) roundTrip(req []byte) ([]byte, error) {
	if _, err := c.nc.Write(req); err != nil {
		return nil, err
	}
	return c.readResponse()
}

var contentLength = []byte("\r\nContent-Length: ")

func (c *benchConn) readResponse() ([]byte, error) {
	n := 0
	for {
		m, err := c.nc.Read(c.buf[n:])
		n += m
		if end := bytes.Index(c.buf[:n], []byte("\r\n\r\n")); end >= 0 {
			head := c.buf[:end+2]
			i := bytes.Index(head, contentLength)
			if i < 0 {
				return nil, errors.New("response without Content-Length")
			}
			v := head[i+len(contentLength):]
			v = v[:bytes.IndexByte(v, '\r')]
			cl, perr := strconv.Atoi(string(v))
			if perr != nil {
				return nil, perr
			}
			if n >= end+4+cl {
				if n > end+4+cl {
					return nil, errors.New("unexpected bytes after the response")
				}
				return c.buf[end+4 : n], nil
			}
		}
		if err != nil {
			return nil, err
		}
		if n == len(c.buf) {
			return nil, errors.New("response larger than the client buffer")
		}
	}
}

var threadingModes = []struct {
	name      string
	threading bool
}{{"threading", true}, {"serial", false}}

// BenchmarkServeGET is one keep-alive GET / answered with a 25-byte body,
// on one connection, request after request: the whole server path (read,
// parse, CGI object, callback, response head, write). Its ns/op is mostly
// loopback and wake-up latency, the same for any server (nethttp-reference
// is net/http under the same client); allocs/op and B/op are httpev's own.
// Throughput under load is bench/run's job.
func BenchmarkServeGET(b *testing.B) {
	for _, mode := range threadingModes {
		b.Run(mode.name, func(b *testing.B) {
			_, l, _ := testServer(b, Options{}, ListenOptions{Threading: mode.threading}, helloCallback)
			benchGET(b, dialBench(b, l.Addr().String()))
		})
	}
	b.Run("nethttp-reference", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, helloBody)
		})}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { _ = srv.Close() })
		benchGET(b, dialBench(b, ln.Addr().String()))
	})
}

// BenchmarkServeHandler is BenchmarkServeGET's request answered by a
// net/http handler: through ServeHandler on httpev (Threading on, as the
// README says to serve handlers), and by net/http's own server for
// reference. allocs/op are the server's.
func BenchmarkServeHandler(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, helloBody)
	})
	b.Run("servehandler", func(b *testing.B) {
		_, l, _ := testServer(b, Options{}, ListenOptions{Threading: true}, ServeHandler(h))
		benchGET(b, dialBench(b, l.Addr().String()))
	})
	b.Run("nethttp-reference", func(b *testing.B) {
		benchGET(b, dialBench(b, netHTTPServer(b, h)))
	})
	// The shape of bench/cmd/hello's routes: two headers set by map
	// assignment and the request's context asked for, as a handler that
	// queries a database passes it on; native is the same answer written
	// as a CGI callback.
	tfb := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Server"] = benchServer
		_ = r.Context().Done()
		h["Content-Type"] = []string{"text/html"}
		_, _ = w.Write([]byte(helloBody))
	})
	b.Run("tfb-servehandler", func(b *testing.B) {
		_, l, _ := testServer(b, Options{}, ListenOptions{Threading: true}, ServeHandler(tfb))
		benchGET(b, dialBench(b, l.Addr().String()))
	})
	b.Run("tfb-native", func(b *testing.B) {
		hdr := http.Header{"Server": benchServer, "Content-Type": {"text/html"}}
		_, l, _ := testServer(b, Options{}, ListenOptions{Threading: true}, func(c *CGI) {
			_ = c.Context().Done()
			c.Header(hdr)
			_, _ = c.Write([]byte(helloBody))
		})
		benchGET(b, dialBench(b, l.Addr().String()))
	})
	b.Run("tfb-nethttp", func(b *testing.B) {
		benchGET(b, dialBench(b, netHTTPServer(b, tfb)))
	})
}

var benchServer = []string{"bench"}

// netHTTPServer serves h with net/http's own server on loopback until the
// benchmark ends, and returns its address.
func netHTTPServer(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// BenchmarkServeWait is BenchmarkServeGET's request answered with
// Threading off by a callback that hands its work off the loop goroutine,
// as one that waits on a database must: with Async (the function runs on
// the connection's goroutine) and with the older pattern, Keep, a new
// goroutine and Close. The work itself is the same page; the figure is
// what the hand-off costs per request. A stack-hungry function (deep
// calls, as a database driver's) shows the goroutine's stack growth.
func BenchmarkServeWait(b *testing.B) {
	page := func(c *CGI) {
		var deep func(n int) int
		deep = func(n int) int {
			var pad [256]byte
			if n == 0 {
				return int(pad[0])
			}
			return deep(n-1) + int(pad[n%256])
		}
		_ = deep(32) // about 10 KB of stack
		helloCallback(c)
	}
	ways := []struct {
		name string
		cb   func(*CGI)
	}{
		{"async", func(c *CGI) { c.Async(func() { page(c) }) }},
		{"goroutine", func(c *CGI) {
			c.Keep()
			go func() {
				defer c.Close()
				page(c)
			}()
		}},
	}
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			_, l, _ := testServer(b, Options{}, ListenOptions{}, w.cb)
			benchGET(b, dialBench(b, l.Addr().String()))
		})
	}
}

func benchGET(b *testing.B, c *benchConn) {
	b.ReportAllocs()
	for b.Loop() {
		body, err := c.roundTrip(helloRequest)
		if err != nil {
			b.Fatal(err)
		}
		if len(body) != len(helloBody) {
			b.Fatalf("body %q", body)
		}
	}
}

// benchQuery has the ten fields BenchmarkParam looks up.
const benchQuery = "q=http+server&lang=en&page=2&sort=date&order=desc&per_page=50" +
	"&filter=go%20lang&since=2024-01-01&tag=perl&ref=home"

var benchQueryNames = []string{"q", "lang", "page", "sort", "order", "per_page", "filter", "since", "tag", "ref"}

// BenchmarkParam is CGI parameter access on a request with a 10-field query
// string. "new" is the cost of the request object alone, "first" adds
// decoding the query on first use, "all10" looks up every field once, and
// "cached" is one lookup on an already decoded request.
func BenchmarkParam(b *testing.B) {
	srv, l, _ := testServer(b, Options{}, ListenOptions{}, helloCallback)
	c := newConn(srv, l, nil)
	head := []byte("GET /search?" + benchQuery + " HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
	if _, err := c.req.Parse(head, c.lim); err != nil {
		b.Fatal(err)
	}
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newCGI(c)
		}
	})
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if newCGI(c).Param("ref") != "home" {
				b.Fatal("wrong value")
			}
		}
	})
	b.Run("all10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q := newCGI(c)
			for _, name := range benchQueryNames {
				if q.Param(name) == "" {
					b.Fatal("missing " + name)
				}
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		q := newCGI(c)
		q.Param("q")
		b.ReportAllocs()
		for b.Loop() {
			if q.Param("ref") != "home" {
				b.Fatal("wrong value")
			}
		}
	})
}

// BenchmarkBufferWrite is the cost of one small write to a request's
// output, the way a template or a print-heavy CGI port writes: 16 bytes at
// a time. The buffer is drained as the connection goroutine would drain it,
// every 32 KB.
func BenchmarkBufferWrite(b *testing.B) {
	piece := []byte("<td>42</td>\r\n   ")
	drain := func(buf *Buffer) {
		if buf.Len() >= 32<<10 {
			data, _, _, _ := buf.take()
			buf.written(data, nil)
		}
	}
	newBuf := func() *Buffer {
		buf := new(Buffer)
		buf.init(&outSignal{cfg: &bufferConfig{threshold: defaultFlushThreshold, max: defaultMaxBuffered, exec: &executor{}}})
		return buf
	}
	b.Run("Write", func(b *testing.B) {
		buf := newBuf()
		b.ReportAllocs()
		b.SetBytes(int64(len(piece)))
		for b.Loop() {
			if _, err := buf.Write(piece); err != nil {
				b.Fatal(err)
			}
			drain(buf)
		}
	})
	b.Run("WriteString", func(b *testing.B) {
		buf := newBuf()
		s := string(piece)
		b.ReportAllocs()
		b.SetBytes(int64(len(piece)))
		for b.Loop() {
			if _, err := buf.WriteString(s); err != nil {
				b.Fatal(err)
			}
			drain(buf)
		}
	})
	b.Run("Fprintf", func(b *testing.B) {
		buf := newBuf()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fmt.Fprintf(buf, "<td>%d</td>\r\n", 42); err != nil {
				b.Fatal(err)
			}
			drain(buf)
		}
	})
}

// BenchmarkUpload is one 16 MiB multipart file upload over a keep-alive
// loopback connection, received into a temp file (the page cache, in
// practice) with an OnFileWrite callback per chunk: the server's whole
// upload path, parser and disk backend included. MB/s is file bytes.
func BenchmarkUpload(b *testing.B) {
	const size = 16 << 20
	file := make([]byte, size)
	_, _ = rand.Read(file)
	const boundary = "----httpevBenchBoundary7MA4YWxkTrZu0gW"
	var body bytes.Buffer
	body.WriteString("--" + boundary + "\r\n" +
		`Content-Disposition: form-data; name="file"; filename="bench.bin"` + "\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n")
	body.Write(file)
	body.WriteString("\r\n--" + boundary + "--\r\n")
	req := fmt.Appendf(nil, "POST /upload HTTP/1.1\r\nHost: bench.example\r\n"+
		"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n", boundary, body.Len())
	req = append(req, body.Bytes()...)

	backends := []struct {
		name string
		io   IO
	}{{"async", nil}, {"blocking", BlockingIO{}}}
	for _, be := range backends {
		for _, mode := range threadingModes {
			b.Run(be.name+"/"+mode.name, func(b *testing.B) {
				var chunks atomic.Int64
				lo := ListenOptions{Threading: mode.threading,
					OnFileWrite: func(*CGI, *MultipartFile, []byte) { chunks.Add(1) }}
				_, l, _ := testServer(b, Options{IO: be.io}, lo, func(c *CGI) {
					c.Header(nil)
					for _, f := range c.Files() {
						_, _ = c.WriteString(strconv.FormatInt(f.Size(), 10))
					}
				})
				c := dialBench(b, l.Addr().String())
				b.ReportAllocs()
				b.SetBytes(size)
				for b.Loop() {
					got, err := c.roundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					if string(got) != strconv.Itoa(size) {
						b.Fatalf("reply %q", got)
					}
				}
				b.ReportMetric(float64(chunks.Load())/float64(b.N), "chunks/op")
			})
		}
	}
}

// BenchmarkServeHandlerAdapter is ServeHandler's own cost, without a
// socket: a parsed request becomes a CGI and is answered, by a net/http
// handler through ServeHandler and by the same answer written as a CGI
// callback (native); the response stays in the Buffer, which is handed
// back for the next request as a connection does. The difference is what
// the adapter adds to a request: building the http.Request, the writer,
// and handing the handler's head to the engine.
func BenchmarkServeHandlerAdapter(b *testing.B) {
	srv, l, _ := testServer(b, Options{}, ListenOptions{Threading: true}, helloCallback)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String()) // for its addresses only
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := newConn(srv, l, nc)
	head := []byte("GET /db HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	if _, err := c.req.Parse(head, c.lim); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":4174,"randomNumber":331}`)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Server"] = benchServer
		h["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	})
	hdr := http.Header{"Server": benchServer, "Content-Type": {"application/json"}}
	for _, way := range []struct {
		name string
		cb   func(*CGI)
	}{
		{"native", func(q *CGI) { q.Header(hdr); _, _ = q.Write(body) }},
		{"servehandler", ServeHandler(handler)},
	} {
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q := newCGI(c)
				way.cb(q)
				if q.out.Len() != len(body) {
					b.Fatalf("%d bytes buffered", q.out.Len())
				}
				c.outBuf = q.out.data[:0]
			}
		})
	}
}
