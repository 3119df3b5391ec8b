// Command hello is the smallest httpev server: every request, whatever its
// path, gets a greeting for the name in its query string.
package main

import (
	"context"
	"flag"
	"html"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	srv, err := httpev.New(httpev.Options{TmpPath: filepath.Join(os.TempDir(), "httpev-hello")})
	if err != nil {
		log.Fatal(err)
	}
	l, err := srv.Listen(*addr, func(c *httpev.CGI) {
		name := c.Param("name")
		if name == "" {
			name = "world"
		}
		c.Header(nil) // 200, text/html
		c.Printf("<h1>Hello, %s!</h1>\n", html.EscapeString(name))
		c.Printf("<p>You came from %s with %s.</p>\n", c.Env("REMOTE_ADDR"), html.EscapeString(c.Env("HTTP_USER_AGENT")))
	}, httpev.ListenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s/?name=you", l.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 10*time.Second); err != nil {
		log.Print(err)
	}
}
