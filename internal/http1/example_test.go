package http1_test

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/httpev/httpev/internal/http1"
)

// Parse is called on the whole buffer after every read until the head is
// complete; the body starts right after the returned length.
func ExampleRequest_Parse() {
	var r http1.Request
	lim := &http1.Limits{MaxHeaders: 50}
	buf := []byte("POST /upload?dir=a HTTP/1.1\r\nHost: example.com\r\nContent-Le")
	if _, err := r.Parse(buf, lim); err == http1.ErrIncomplete {
		buf = append(buf, "ngth: 5\r\nExpect: 100-continue\r\n\r\nhello"...)
	}
	n, err := r.Parse(buf, lim)
	if err != nil {
		fmt.Println(http1.StatusOf(err)) // answer with this status, then close
		return
	}
	fmt.Printf("%s %s query=%s host=%s length=%d expect100=%v\n",
		r.Method, r.Path, r.RawQuery, r.Host, r.ContentLength, r.Expect100)
	fmt.Printf("body %q\n", buf[n:])
	// Output:
	// POST /upload query=dir=a host=example.com length=5 expect100=true
	// body "hello"
}

// A refused request carries the status to answer with.
func ExampleStatusOf() {
	var r http1.Request
	_, err := r.Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), nil)
	fmt.Println(http1.StatusOf(err), err)
	// Output:
	// 501 http1: not implemented (501): unsupported transfer coding
}

func ExampleChunkedReader() {
	body := "5;name=x\r\nhello\r\n7\r\n, world\r\n0\r\nChecksum: 42\r\n\r\n"
	c := http1.NewChunkedReader(http1.BufioSource{R: bufio.NewReader(strings.NewReader(body))}, http1.ChunkLimits{})
	data, err := io.ReadAll(c)
	fmt.Printf("%s %v\n", data, err)
	for _, h := range c.Trailers() {
		fmt.Printf("%s=%s\n", h.Name, h.Value)
	}
	// Output:
	// hello, world <nil>
	// Checksum=42
}
