package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/httpev/httpev"
)

// httpevServer hashes uploads in OnFileWrite, chunk by chunk as they reach
// the disk: the file is never read back and never held in memory.
//
// The TechEmpower routes (tfb.go) are written the way the README tells a
// user to: with Threading on the callback simply waits on the database;
// with it off (httpev-serial) a callback that would wait keeps the request,
// waits in a goroutine of its own and finishes the request from there, so
// the loop goroutine goes on serving.
type httpevServer struct {
	threading bool
	noPark    bool
	tmp       string
	db        *db
	hashes    sync.Map // *httpev.MultipartFile → *fileHash
}

type fileHash struct {
	h hash.Hash
	n int64
}

// serve answers on a listener the caller opened.
func (s *httpevServer) serve(ctx context.Context, ln net.Listener) error {
	return s.run(ctx, ln, nil)
}

// serveAddr lets httpev open the socket itself, as an application would.
func (s *httpevServer) serveAddr(ctx context.Context, addr string, ready func(net.Addr)) error {
	return s.run(ctx, addr, ready)
}

func (s *httpevServer) run(ctx context.Context, addr any, ready func(net.Addr)) error {
	dir, err := os.MkdirTemp(s.tmp, "hello-httpev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := httpev.New(httpev.Options{
		TmpPath:    dir,
		NoIdlePark: s.noPark,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	l, err := srv.Listen(addr, s.handle, httpev.ListenOptions{
		Threading: s.threading,
		OnFileOpen: func(_ *httpev.CGI, f *httpev.MultipartFile) {
			s.hashes.Store(f, &fileHash{h: sha256.New()})
		},
		OnFileWrite: func(_ *httpev.CGI, f *httpev.MultipartFile, chunk []byte) {
			if v, ok := s.hashes.Load(f); ok {
				fh := v.(*fileHash)
				fh.h.Write(chunk)
				fh.n += int64(len(chunk))
			}
		},
		OnError: s.forget,
	})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(l.Addr())
	}
	return srv.Run(ctx, 5*time.Second)
}

func (s *httpevServer) handle(c *httpev.CGI) {
	if r := routeOf(c.Path()); r != rNone {
		var q string
		if r == rQueries || r == rUpdates {
			q = c.Param("queries")
		}
		if r.blocks() && !s.threading {
			waitAsync(c, func() { s.reply(c, r, q) })
			return
		}
		s.reply(c, r, q)
		return
	}
	if c.Path() == "/upload" && c.Method() == "POST" {
		files := c.Files()
		if len(files) == 0 {
			c.Header(map[string][]string{"Status": {"400"}})
			c.WriteString("no file\n")
			return
		}
		for _, f := range files {
			v, ok := s.hashes.LoadAndDelete(f)
			if !ok {
				continue
			}
			fh := v.(*fileHash)
			fmt.Fprintf(c, "%d %x\n", fh.n, fh.h.Sum(nil))
		}
		return
	}
	c.Header(nil)
	c.WriteString(body)
}

// waitAsync is CGI.Async, through an interface so that this program still
// builds against a library from before Async (bench/run BASE=rev), which
// gets the pattern Async replaced: Keep, a goroutine, Close.
func waitAsync(c *httpev.CGI, fn func()) {
	if a, ok := any(c).(interface{ Async(func()) }); ok {
		a.Async(fn)
		return
	}
	c.Keep()
	go func() {
		defer c.Close()
		fn()
	}()
}

func (s *httpevServer) forget(c *httpev.CGI) {
	for _, f := range c.Files() {
		s.hashes.Delete(f)
	}
}

// reply answers a TechEmpower route.
func (s *httpevServer) reply(c *httpev.CGI, r route, queries string) {
	// The request's Context ends when the client leaves, so an abandoned
	// query stops; asking for it starts watching the socket, which only
	// the database routes need.
	ctx := context.Background()
	if r.usesDB() {
		ctx = c.Context()
	}
	ctype, body, err := s.db.answer(ctx, r, queries)
	if err != nil {
		c.Header(http.Header{"Status": {"500"}, "Content-Type": {ctText}})
		c.WriteString(err.Error())
		return
	}
	c.Header(contentType[ctype])
	c.Write(body)
}

// contentType holds one header per content type the routes send, built
// once: Header copies what it is given, so a shared map is safe.
var contentType = map[string]http.Header{
	ctText: {"Content-Type": {ctText}},
	ctJSON: {"Content-Type": {ctJSON}},
	ctHTML: {"Content-Type": {ctHTML}},
}

// httpevHandlerServer serves the nethttp server's very handlers with
// httpev.ServeHandler (Threading on, as the README says to): what a
// net/http application gets by swapping its server for httpev.
type httpevHandlerServer struct {
	nh *netHTTPServer
}

func (s *httpevHandlerServer) serve(ctx context.Context, ln net.Listener) error {
	return s.run(ctx, ln, nil)
}

func (s *httpevHandlerServer) serveAddr(ctx context.Context, addr string, ready func(net.Addr)) error {
	return s.run(ctx, addr, ready)
}

func (s *httpevHandlerServer) run(ctx context.Context, addr any, ready func(net.Addr)) error {
	dir, err := os.MkdirTemp(s.nh.tmp, "hello-httpev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := httpev.New(httpev.Options{
		TmpPath: dir,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	l, err := srv.Listen(addr, httpev.ServeHandler(s.nh.mux()), httpev.ListenOptions{Threading: true})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(l.Addr())
	}
	return srv.Run(ctx, 5*time.Second)
}
