package httpev_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/httpev/httpev"
)

// The smallest server: one callback answers every request, CGI-style.
func Example_helloWorld() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, err := httpev.New(httpev.Options{TmpPath: tmp})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	l, err := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		c.Header(http.Header{"Content-Type": {"text/plain"}})
		c.Printf("hello %s\n", c.Param("name"))
	}, httpev.ListenOptions{})
	if err != nil {
		panic(err)
	}

	resp, _ := http.Get("http://" + l.Addr().String() + "/?name=world")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Header.Get("Content-Type"), ": ", string(body))
	// Output: text/plain: hello world
}

// A form: GET shows it, POST reads it. Param looks in the query string,
// then the body; Post only in the body.
func ExampleCGI_Param() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()
	l, _ := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		if c.Method() != http.MethodPost {
			c.Print(`<form method="post"><input name="who"><input type="checkbox" name="color" value="red">...</form>`, "\n")
			return
		}
		c.Printf("who=%s colors=%q lang=%s\n", c.Param("who"), c.Post("color"), c.Param("lang"))
	}, httpev.ListenOptions{})
	url := "http://" + l.Addr().String() + "/survey"

	resp, _ := http.Get(url)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(page[:18]), "...\n")

	resp, _ = http.PostForm(url+"?lang=en", map[string][]string{"who": {"Ann"}, "color": {"red", "blue"}})
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(answer))
	// Output:
	// <form method="post...
	// who=Ann colors=["red" "blue"] lang=en
}

// An upload with progress. The file goes from the socket to a temp file
// chunk by chunk; OnFileWrite runs after each chunk, which is where a
// progress bar gets its numbers (here against the request's length, as a
// page that knows only that would). The callback runs once the whole body
// is in, and the temp file is gone after the response unless saved.
func ExampleListenOptions_onFileWrite() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	next := 25 // the next percentage to report
	l, _ := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		f := c.File("file")[0]
		c.Printf("got %s, %d bytes\n", f.Name(), f.Size())
	}, httpev.ListenOptions{
		OnFileOpen: func(c *httpev.CGI, f *httpev.MultipartFile) { fmt.Println("receiving", f.Name()) },
		OnFileWrite: func(c *httpev.CGI, f *httpev.MultipartFile, chunk []byte) {
			total, _ := strconv.ParseInt(c.Env("CONTENT_LENGTH"), 10, 64)
			for next <= 75 && f.Size()*100/total >= int64(next) {
				fmt.Printf("%d%%\n", next)
				next += 25
			}
		},
		OnFileReceived: func(c *httpev.CGI, f *httpev.MultipartFile) { fmt.Println("complete") },
	})

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "video.mp4")
	_, _ = fw.Write(bytes.Repeat([]byte("frame "), 200_000)) // 1.2 MB
	_ = mw.Close()
	resp, _ := http.Post("http://"+l.Addr().String()+"/upload", mw.FormDataContentType(), &body)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(answer))
	left, _ := os.ReadDir(tmp)
	fmt.Println("temp files left:", len(left))
	// Output:
	// receiving video.mp4
	// 25%
	// 50%
	// 75%
	// complete
	// got video.mp4, 1200000 bytes
	// temp files left: 0
}

// A program's main: serve until SIGINT or SIGTERM, then let requests in
// flight finish for up to ten seconds. Here the context ends after one
// request instead of on a signal.
func ExampleServer_Run() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, err := httpev.New(httpev.Options{TmpPath: tmp})
	if err != nil {
		panic(err)
	}
	// In a real main: ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	l, err := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		c.Print("bye\n")
		stop()
	}, httpev.ListenOptions{})
	if err != nil {
		panic(err)
	}
	got := make(chan struct{})
	go func() {
		defer close(got)
		resp, err := http.Get("http://" + l.Addr().String() + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Print(string(body))
		}
	}()

	err = srv.Run(ctx, 10*time.Second) // returns once the request is answered
	<-got
	fmt.Println("stopped:", err)
	// Output:
	// bye
	// stopped: <nil>
}

// A callback that waits on something slow (here a fake query) with
// Threading off: Async runs the wait on the connection's goroutine, so the
// loop goroutine serves other requests meanwhile, and the request ends
// when the function returns.
func ExampleCGI_Async() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()
	query := func(ctx context.Context, id string) (string, error) {
		select {
		case <-time.After(10 * time.Millisecond): // a database round trip
			return "row " + id, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	l, _ := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		id := c.Param("id") // read the request in the callback or in fn
		c.Async(func() {
			row, err := query(c.Context(), id)
			if err != nil {
				c.Header(http.Header{"Status": {"503"}})
				return
			}
			c.Print(row, "\n")
		})
	}, httpev.ListenOptions{})

	resp, _ := http.Get("http://" + l.Addr().String() + "/?id=7")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output: row 7
}
