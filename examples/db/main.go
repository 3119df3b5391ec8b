// Command db answers from PostgreSQL with httpev and pgx: /db returns one
// random row of the World table as JSON, /fortunes renders the Fortune
// table as an HTML page (the TechEmpower schema; scripts/pgtmp creates it).
//
// The same handlers run in both threading modes (-threading). With
// Threading on each callback has a goroutine of its own and simply waits
// on the database. With it off callbacks share the loop goroutine and must
// not block it: a callback that waits keeps its request (Keep), waits in a
// goroutine of its own and finishes the request from there (Close), while
// the loop serves other requests. waiting() below wraps a handler that way.
//
//	DATABASE_URL='postgres://user@/hello_world?host=/run/postgresql' go run . -threading=false
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	threading := flag.Bool("threading", true, "run callbacks concurrently (false: on the loop goroutine, waiting in goroutines)")
	flag.Parse()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		log.Fatal("db: set DATABASE_URL to a PostgreSQL connection string (pgx form)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *addr, url, *threading, func(a net.Addr) { log.Printf("listening on http://%s/ (threading %v)", a, *threading) })
	if err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends; ready is told the address once listening.
func run(ctx context.Context, addr, url string, threading bool, ready func(net.Addr)) error {
	a, err := newApp(ctx, url)
	if err != nil {
		return err
	}
	defer a.close()
	srv, err := httpev.New(httpev.Options{TmpPath: filepath.Join(os.TempDir(), "httpev-db")})
	if err != nil {
		return err
	}
	table, err := a.handlers(threading)
	if err != nil {
		return err
	}
	l, err := srv.ListenHandlers(addr, table, httpev.ListenOptions{Threading: threading})
	if err != nil {
		return err
	}
	ready(l.Addr())
	// Requests in flight finish (their queries too) before the pool closes.
	return srv.Run(ctx, 5*time.Second)
}

// handlers routes the two pages; every handler that waits on the database
// is wrapped by waiting.
func (a *app) handlers(threading bool) (*httpev.HandlerTable, error) {
	return httpev.NewHandlerTable([]httpev.Handler{
		{Dir: `^/db$`, Func: waiting(threading, a.world)},
		{Dir: `^/fortunes$`, Func: waiting(threading, a.fortunes)},
		{Dir: `^/$`, Func: func(c *httpev.CGI) {
			c.Print(`<!doctype html><title>httpev + pgx</title><p><a href="/db">/db</a> <a href="/fortunes">/fortunes</a>`)
		}},
	})
}

// waiting adapts a handler that blocks to the threading mode. With
// Threading on it is returned as is: its callback owns a goroutine. With
// Threading off the callback hands the handler to Async, which runs it on
// the connection's goroutine once the callback has returned and finishes
// the request when it returns (a panic answers 500); the loop goroutine is
// free at once. The handler may use every method of the request there
// (they are safe for concurrent use), but application state that loop
// callbacks use without locks must not be touched there.
func waiting(threading bool, h func(*httpev.CGI)) func(*httpev.CGI) {
	if threading {
		return h
	}
	return func(c *httpev.CGI) { c.Async(func() { h(c) }) }
}

// queryTimeout bounds every database call of a request: a database that
// hangs costs a 500, not a request held forever.
const queryTimeout = 5 * time.Second

// fail answers a database error with a short 500; the details go to the
// log, not to the client.
func fail(c *httpev.CGI, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client left; nobody reads the answer
	}
	log.Printf("db: %s: %v", c.Path(), err)
	c.Header(map[string][]string{"Status": {"500"}, "Content-Type": {"text/plain"}})
	c.Print("database error\n")
}
