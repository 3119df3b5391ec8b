package httpevtest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/httpev/httpev"
	"github.com/httpev/httpev/httpevtest"
)

// A table-driven check of an application's callback: each row is a
// request and what the application must answer. In a test, pass t to New
// and use t.Run per row; the Example passes nil and closes the harness.
func Example() {
	h := httpevtest.New(nil, loginApp(map[string]string{"ann": "s3cret"}))
	defer h.Close()

	loggedIn := func(r *http.Request) *http.Request {
		r.AddCookie(&http.Cookie{Name: "user", Value: "ann"})
		return r
	}
	avatar := httpevtest.Upload{Field: "avatar", Name: "ann.png", ContentType: "image/png", Content: []byte("\x89PNG...")}
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"wrong password", httpevtest.NewForm("/login", url.Values{"user": {"ann"}, "password": {"guess"}})},
		{"right password", httpevtest.NewForm("/login", url.Values{"user": {"ann"}, "password": {"s3cret"}})},
		{"greeting", loggedIn(httptest.NewRequest("GET", "/", nil))},
		{"avatar", loggedIn(httpevtest.NewMultipart("/avatar", nil, avatar))},
		{"avatar, logged out", httpevtest.NewMultipart("/avatar", nil, avatar)},
	} {
		res := h.Do(tc.req)
		fmt.Printf("%-18s %d %q %s", tc.name, res.Status, res.Header.Get("Set-Cookie"), res.Text())
		if res.Header.Get("Location") != "" {
			fmt.Printf("-> %s\n", res.Header.Get("Location"))
		}
	}
	// Output:
	// wrong password     401 "" wrong user or password
	// right password     303 "user=ann; path=/" -> /
	// greeting           200 "" hello ann
	// avatar             200 "" ann uploaded ann.png (7 bytes)
	// avatar, logged out 401 "" log in first
}

// Result.Files holds what the callback received, content included, read
// before the temp files went away.
func ExampleHarness_Do_files() {
	h := httpevtest.New(nil, func(c *httpev.CGI) {
		c.Printf("%d files, note %q\n", len(c.Files()), c.Param("note"))
	})
	defer h.Close()

	res := h.Do(httpevtest.NewMultipart("/upload", url.Values{"note": {"two files"}},
		httpevtest.Upload{Field: "doc", Name: "a.txt", ContentType: "text/plain", Content: []byte("alpha")},
		httpevtest.Upload{Field: "doc", Name: `..\..\b.txt`, Body: strings.NewReader("streamed, not held")},
	))
	fmt.Print(res.Text())
	for _, f := range res.Files {
		fmt.Printf("%s %q (sent as %q) %s %d %q\n", f.Field, f.Name, f.RawName, f.ContentType, f.Size, f.Content)
	}
	// Output:
	// 2 files, note "two files"
	// doc "a.txt" (sent as "a.txt") text/plain 5 "alpha"
	// doc "..__..__b.txt" (sent as "..\\..\\b.txt") application/octet-stream 18 "streamed, not held"
}

// A Listener serves a whole server in memory; its Client reaches it
// whatever the URL's host.
func ExampleListener() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()
	ln := httpevtest.NewListener()
	table, _ := httpev.NewHandlerTable([]httpev.Handler{
		{Dir: "^/ping$", Func: func(c *httpev.CGI) { c.Print("pong from ", c.Env("REMOTE_ADDR"), "\n") }},
	})
	_, _ = srv.ListenHandlers(ln, table, httpev.ListenOptions{})

	client := ln.Client()
	defer client.CloseIdleConnections()
	for _, path := range []string{"/ping", "/other"} {
		resp, err := client.Get("http://app.test" + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s", path, resp.StatusCode, body)
	}
	// Output:
	// /ping 200 pong from 127.0.0.1
	// /other 404 404 Not Found
}
