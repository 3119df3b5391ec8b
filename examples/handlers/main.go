// Command handlers routes requests through an ordered handler table, the
// way a POE::Component::Server::SimpleHTTP program lists its HANDLERS:
// regular expressions on the path, first match wins, no match is a 404.
// /admin (user admin, password from -password) swaps the table at run time
// to put the site into maintenance and back.
package main

import (
	"context"
	"flag"
	"html"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

// site holds the table and the two sets of rows /admin switches between.
type site struct {
	table    *httpev.HandlerTable
	modes    map[string][]httpev.Handler
	password string
}

func newSite(password string) (*site, error) {
	s := &site{password: password}
	normal := []httpev.Handler{
		{Dir: `^/$`, Func: index},
		{Dir: `^/hello/(\w+)$`, Func: func(c *httpev.CGI) {
			c.Printf("<h1>Hello, %s</h1>\n", html.EscapeString(c.DirMatch()[1]))
		}},
		{Dir: `^/time$`, Func: func(c *httpev.CGI) {
			c.Header(http.Header{"Content-Type": {"text/plain"}})
			c.Print(time.Now().Format(time.RFC1123), "\n")
		}},
		{Dir: `^/admin$`, Func: s.admin},
	}
	maintenance := append([]httpev.Handler{
		// First row: everything but /admin is closed.
		{Dir: `^/(?:$|hello/|time$)`, Func: func(c *httpev.CGI) {
			c.Header(http.Header{"Status": {"503"}, "Retry-After": {"60"}})
			c.Print("<p>Down for maintenance.</p>\n")
		}},
	}, normal...)
	s.modes = map[string][]httpev.Handler{"normal": normal, "maintenance": maintenance}
	var err error
	s.table, err = httpev.NewHandlerTable(normal)
	return s, err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	password := flag.String("password", "secret", "password of the admin user")
	flag.Parse()

	srv, err := httpev.New(httpev.Options{TmpPath: filepath.Join(os.TempDir(), "httpev-handlers")})
	if err != nil {
		log.Fatal(err)
	}
	s, err := newSite(*password)
	if err != nil {
		log.Fatal(err)
	}
	l, err := srv.ListenHandlers(*addr, s.table, httpev.ListenOptions{})
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

func index(c *httpev.CGI) {
	c.Print(`<h1>httpev handler table</h1><ul>
<li><a href="/hello/world">/hello/world</a>
<li><a href="/time">/time</a>
<li><a href="/admin">/admin</a> (admin / the -password flag)
<li><a href="/nowhere">/nowhere</a> (no row matches: 404)
</ul>
`)
}

// admin switches the table after checking Basic credentials.
func (s *site) admin(c *httpev.CGI) {
	if !c.RequireBasicAuth("httpev admin", func(user, pass string) bool {
		return httpev.SecureCompare(user, "admin") && httpev.SecureCompare(pass, s.password)
	}) {
		return
	}
	if rows, ok := s.modes[c.Param("mode")]; ok && c.Method() == http.MethodPost {
		if err := s.table.SetHandlers(rows); err != nil {
			c.Header(http.Header{"Status": {"500"}})
			c.Printf("<p>%s</p>\n", html.EscapeString(err.Error()))
			return
		}
		c.Printf("<p>Switched to %s mode.</p>\n", html.EscapeString(c.Param("mode")))
	}
	c.Printf(`<p>The table has %d rows.</p>
<form method="post"><button name="mode" value="maintenance">Maintenance</button>
<button name="mode" value="normal">Normal</button></form>
`, len(s.table.Handlers()))
}
