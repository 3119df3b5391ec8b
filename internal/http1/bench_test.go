package http1

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
)

// browserGET is what Chrome sends for a page on a site with a session.
const browserGET = "GET /shop/cart?item=42&ref=home HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: sid=31d4d96e407aad42; theme=dark; _ga=GA1.2.1234567890.1712345678\r\n" +
	"\r\n"

func BenchmarkParseBrowserGET(b *testing.B) {
	buf := []byte(browserGET)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := r.Parse(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseIncomplete is the cost of a call that finds the head cut
// short at its last byte, i.e. the price of re-parsing after a short read.
func BenchmarkParseIncomplete(b *testing.B) {
	buf := []byte(browserGET[:len(browserGET)-1])
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := r.Parse(buf, nil); err != ErrIncomplete {
			b.Fatal(err)
		}
	}
}

// chunkedBody builds a body of n chunks of size bytes each.
func chunkedBody(n, size int) []byte {
	var b bytes.Buffer
	chunk := strings.Repeat("x", size)
	for range n {
		b.WriteString(strconv.FormatInt(int64(size), 16) + "\r\n" + chunk + "\r\n")
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

func BenchmarkChunked(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			body := chunkedBody(256, size)
			src := bytes.NewReader(body)
			br := bufio.NewReaderSize(src, 8192)
			var c ChunkedReader
			p := make([]byte, 32<<10)
			b.ReportAllocs()
			b.SetBytes(int64(256 * size))
			for b.Loop() {
				src.Reset(body)
				br.Reset(src)
				c.Reset(BufioSource{br}, ChunkLimits{})
				for {
					_, err := c.Read(p)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// plaintextGET is what wrk sends for TechEmpower's plaintext test: the
// smallest real head, where fixed costs per request show.
const plaintextGET = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"

func BenchmarkParsePlaintext(b *testing.B) {
	buf := []byte(plaintextGET)
	var r Request
	lim := Limits{MaxURL: DefaultMaxURL, MaxHeaderName: DefaultMaxHeaderName, MaxHeaderValue: DefaultMaxHeaderValue,
		MaxHeaders: DefaultMaxHeaders, MaxHeaderBytes: DefaultMaxHeaderBytes}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := r.Parse(buf, &lim); err != nil {
			b.Fatal(err)
		}
	}
}
