// Command form shows an HTML form and reads it back: single and repeated
// fields, the query string next to the body, a cookie that remembers the
// visitor, and the CGI environment a Perl CGI script would see in %ENV.
package main

import (
	"context"
	"flag"
	"html"
	"log"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

const page = `<!doctype html>
<title>httpev form</title>
<h1>Hello%s</h1>
<form method="post" action="/?from=form">
  <p>Name <input name="name" value="%s">
  <p>Colours
    <label><input type="checkbox" name="colour" value="red"> red</label>
    <label><input type="checkbox" name="colour" value="green"> green</label>
    <label><input type="checkbox" name="colour" value="blue"> blue</label>
  <p><textarea name="note" rows="3" cols="40"></textarea>
  <p><button>Send</button>
</form>
`

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	legacy := flag.String("legacy-charset", "", "charset for form bytes that are not UTF-8, e.g. windows-1251")
	flag.Parse()

	srv, err := httpev.New(httpev.Options{
		TmpPath:       filepath.Join(os.TempDir(), "httpev-form"),
		LegacyCharset: *legacy,
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := srv.Listen(*addr, serve, httpev.ListenOptions{})
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

func serve(c *httpev.CGI) {
	name := c.Param("name")
	if name != "" {
		// Remembered for a year; SetCookies must come before any output.
		_ = c.SetCookies(map[string]string{"name": name}, 365*24*time.Hour)
	} else {
		name = c.Cookie("name")
	}
	greeting := ""
	if name != "" {
		greeting = ", " + html.EscapeString(name)
	}
	c.Header(http.Header{"Content-Type": {"text/html; charset=utf-8"}})
	c.Printf(page, greeting, html.EscapeString(name))

	if c.Method() == "POST" {
		c.Print("<h2>You sent</h2><ul>\n")
		c.Printf("<li>colours (every value of a repeated field): %s\n", html.EscapeString(strings.Join(c.Post("colour"), ", ")))
		c.Printf("<li>note: <pre>%s</pre>\n", html.EscapeString(strings.Join(c.Post("note"), "\n")))
		c.Printf("<li>from, in the query string: %s\n", html.EscapeString(c.Param("from")))
		c.Print("</ul>\n")
	}

	c.Print("<h2>Environment</h2><table>\n")
	env := c.Envs()
	for _, k := range slices.Sorted(maps.Keys(env)) {
		c.Printf("<tr><td>%s<td>%s\n", k, html.EscapeString(env[k]))
	}
	c.Print("</table>\n")
}
