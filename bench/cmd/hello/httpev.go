package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/httpev/httpev"
)

// httpevServer hashes uploads in OnFileWrite, chunk by chunk as they reach
// the disk: the file is never read back and never held in memory.
type httpevServer struct {
	threading bool
	noPark    bool
	tmp       string
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

func (s *httpevServer) forget(c *httpev.CGI) {
	for _, f := range c.Files() {
		s.hashes.Delete(f)
	}
}
