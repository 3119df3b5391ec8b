// Command streaming produces responses piece by piece. /count streams
// numbers as fast as the client takes them: Stream asks for the next
// piece only once the previous one is written, so a slow client slows the
// producer and memory stays at one piece. /clock pushes a server-sent event
// every second until the browser leaves: the request is kept open and
// written from a timer.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

const page = `<!doctype html>
<title>httpev streaming</title>
<p>Server time: <b id="clock">...</b>
<p><a href="/count?to=100000">/count?to=100000</a>, a long response streamed as it is produced
<script>
new EventSource('/clock').onmessage = e => { document.getElementById('clock').textContent = e.data; };
</script>
`

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	srv, err := httpev.New(httpev.Options{TmpPath: filepath.Join(os.TempDir(), "httpev-streaming")})
	if err != nil {
		log.Fatal(err)
	}
	// Graceful shutdown waits for open responses; event streams never end
	// on their own, so end them when shutdown begins.
	stopping := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(stopping) })

	table, err := httpev.NewHandlerTable([]httpev.Handler{
		{Dir: `^/$`, Func: func(c *httpev.CGI) { c.Print(page) }},
		{Dir: `^/count$`, Func: count},
		{Dir: `^/clock$`, Func: func(c *httpev.CGI) { clock(c, stopping) }},
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := srv.ListenHandlers(*addr, table, httpev.ListenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s/", l.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 10*time.Second); err != nil {
		log.Print(err)
	}
}

// count streams the numbers 1..to, a thousand per piece.
func count(c *httpev.CGI) {
	to, err := strconv.Atoi(c.Param("to"))
	if err != nil || to < 1 {
		to = 1000
	}
	c.Header(http.Header{"Content-Type": {"text/plain"}})
	n := 0
	c.Stream(func(c *httpev.CGI) bool {
		for end := min(n+1000, to); n < end; {
			n++
			c.Print(n, "\n")
		}
		return n < to
	})
}

// clock sends the time as a server-sent event each second until the
// client goes away or the server shuts down.
func clock(c *httpev.CGI, stopping <-chan struct{}) {
	c.Header(http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}})
	c.Keep()
	gone := c.Context().Done() // cancelled when the browser closes the page
	go func() {
		defer c.Close()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			c.Print("data: ", time.Now().Format(time.TimeOnly), "\n\n")
			c.Flush()
			select {
			case <-tick.C:
			case <-gone:
				return
			case <-stopping:
				return
			}
		}
	}()
}
