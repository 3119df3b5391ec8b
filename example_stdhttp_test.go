package httpev_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/httpev/httpev"
	"github.com/httpev/httpev/httpevtest"
)

// A CGI callback mounted in a net/http ServeMux, next to ordinary
// handlers: net/http serves the connection (and could speak HTTP/2 or
// TLS), the callback keeps the CGI API.
func ExampleNewHTTPHandler() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	legacy, err := httpev.NewHTTPHandler(srv, func(c *httpev.CGI) {
		c.Printf("cgi: %s %s name=%s from %s\n", c.Method(), c.Path(), c.Param("name"), c.Env("REMOTE_ADDR"))
	}, httpev.ListenOptions{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/cgi/", http.StripPrefix("/cgi", legacy))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "net/http:", r.URL.Path) })
	ts := httptest.NewServer(mux)
	defer ts.Close()

	for _, path := range []string{"/cgi/search.pl?name=ann", "/about"} {
		resp, _ := http.Get(ts.URL + path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(string(body))
	}
	// Output:
	// cgi: GET /search.pl name=ann from 127.0.0.1
	// net/http: /about
}

type userKey struct{}

// Middleware works in front of a bridged callback, and what it puts in
// the request's context reaches the callback through HTTPRequest.
func ExampleHTTPRequest() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	app, _ := httpev.NewHTTPHandler(srv, func(c *httpev.CGI) {
		r := httpev.HTTPRequest(c)
		c.Printf("hello %s (%s, seen by the CGI as %s)\n", r.Context().Value(userKey{}), r.Proto, c.Env("SERVER_PROTOCOL"))
	}, httpev.ListenOptions{})
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, _, ok := r.BasicAuth()
			if !ok {
				http.Error(w, "who are you?", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
		})
	}
	ts := httptest.NewServer(auth(app))
	defer ts.Close()

	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.SetBasicAuth("ann", "secret")
	resp, _ := http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output: hello ann (HTTP/1.1, seen by the CGI as HTTP/1.1)
}

// The other way round: a net/http ServeMux served by httpev's engine.
// Threading on runs each handler off the loop goroutine, on its
// connection's, so that it may block as net/http handlers expect.
func ExampleServeHandler() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "net/http handler")
		fmt.Fprintf(w, "hello %s\n", r.PathValue("name"))
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		// Files are already on disk: the CGI behind the request has them.
		for _, f := range httpev.RequestCGI(r).File("doc") {
			fmt.Fprintf(w, "%s: %d bytes, title %q\n", f.Name(), f.Size(), r.FormValue("title"))
		}
	})
	l, _ := srv.Listen("127.0.0.1:0", httpev.ServeHandler(mux), httpev.ListenOptions{Threading: true})
	base := "http://" + l.Addr().String()

	resp, _ := http.Get(base + "/hello/gopher")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Header.Get("X-Served-By"), ": ", string(body))

	up := httpevtest.NewMultipart("/upload", map[string][]string{"title": {"report"}},
		httpevtest.Upload{Field: "doc", Name: "q3.pdf", Content: []byte(strings.Repeat("%PDF", 1000))})
	resp, _ = http.Post(base+"/upload", up.Header.Get("Content-Type"), up.Body)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output:
	// net/http handler: hello gopher
	// q3.pdf: 4000 bytes, title "report"
}
