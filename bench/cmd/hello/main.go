// Command hello is the server side of the benchmark suite: one program that
// serves the same endpoints with httpev, net/http or fasthttp, so the
// servers differ only in the library.
//
//	GET /          200, text/html, "Just another Perl server\n" (25 bytes)
//	POST /upload   multipart/form-data: every file part is streamed to a temp
//	               file while hashed with SHA-256; the reply has one line
//	               "<bytes> <sha256hex>" per file
//	GET /plaintext, /json, /db, /queries?queries=N, /fortunes,
//	    /updates?queries=N
//	               the six TechEmpower test types (tfb.go), on the
//	               PostgreSQL named by DATABASE_URL (a pgx connection
//	               string; the database routes answer 500 without it), with
//	               a pool of 16 connections for every server (DB_POOL)
//	GET /sleep     "Hello, World!" after a 1 ms sleep: a callback that
//	               waits, without a database
//
// It prints "pid=<pid> addr=<host:port>" once listening and exits cleanly on
// SIGTERM or SIGINT. -cpuprofile and -memprofile write pprof profiles
// covering the whole run, written at exit; -pprof serves net/http/pprof and
// expvar (runtime.MemStats at /debug/vars) on a side address, for looking at
// a server while it holds idle connections.
package main

import (
	"context"
	_ "expvar" // /debug/vars on the -pprof address
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // /debug/pprof on the -pprof address
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// body is what every server answers GET / with.
const body = "Just another Perl server\n"

// server is one library's implementation of the two endpoints.
type server interface {
	// serve answers requests on ln until ctx ends, then stops.
	serve(ctx context.Context, ln net.Listener) error
}

func main() {
	kind := flag.String("server", "httpev", "httpev, httpev-serial, httpev-handler, httpev-nopark, nethttp, fasthttp, fasthttp-form or floor")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	tmp := flag.String("tmp", os.TempDir(), "directory for received files")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile to this file at exit")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof and expvar on this address (e.g. 127.0.0.1:6060)")
	flag.Parse()

	d, err := openDB(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer d.close()

	s, err := newServer(*kind, *tmp, d)
	if err != nil {
		log.Fatal(err)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *memProfile != "" {
		defer writeHeapProfile(*memProfile)
	}

	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready := func(a net.Addr) { fmt.Printf("pid=%d addr=%s server=%s\n", os.Getpid(), a, *kind) }
	if as, ok := s.(addrServer); ok {
		if err := as.serveAddr(ctx, *addr, ready); err != nil {
			log.Print(err)
		}
		return
	}
	ln, err := net.Listen("tcp", *addr) // what ListenAndServe does in net/http and fasthttp
	if err != nil {
		log.Fatal(err)
	}
	ready(ln.Addr())
	if err := s.serve(ctx, ln); err != nil {
		log.Print(err)
	}
}

// addrServer is a server whose library opens its own socket. Every server
// listens the way its library does by default: net/http and fasthttp with
// net.Listen (ListenAndServe), httpev with Server.Listen, which leaves TCP
// keep-alive probes off until a request is kept.
type addrServer interface {
	serveAddr(ctx context.Context, addr string, ready func(net.Addr)) error
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Print(err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		log.Print(err)
	}
}

// newServer returns the server of one library (the -server names).
func newServer(kind, tmp string, d *db) (server, error) {
	switch kind {
	case "httpev":
		return &httpevServer{threading: true, tmp: tmp, db: d}, nil
	case "httpev-serial":
		return &httpevServer{threading: false, tmp: tmp, db: d}, nil
	case "httpev-handler":
		return &httpevHandlerServer{nh: &netHTTPServer{tmp: tmp, db: d}}, nil
	case "httpev-nopark": // httpev with Options.NoIdlePark, to compare
		return &httpevServer{threading: true, noPark: true, tmp: tmp, db: d}, nil
	case "nethttp":
		return &netHTTPServer{tmp: tmp, db: d}, nil
	case "fasthttp":
		return &fastHTTPServer{stream: true, tmp: tmp, db: d}, nil
	case "fasthttp-form":
		return &fastHTTPServer{stream: false, tmp: tmp, db: d}, nil
	case "floor": // the GET figures' floor: see floor.go
		return floorServer{}, nil
	}
	return nil, fmt.Errorf("hello: unknown -server %q", kind)
}
