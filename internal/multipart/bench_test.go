package multipart

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// feedWindows feeds body in windows of at most win bytes the way a server
// with a win-byte buffer does, minus the memmove of the tail: body is
// contiguous, so the unconsumed tail is simply presented again.
func feedWindows(b *testing.B, p *Parser, body []byte, win int) {
	off := 0
	for {
		end := min(off+win, len(body))
		n, err := p.Feed(body[off:end], end == len(body))
		if err != nil {
			b.Fatal(err)
		}
		off += n
		if end == len(body) {
			return
		}
	}
}

func BenchmarkParseFile16MiB(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	contents := map[string][]byte{
		"random": make([]byte, 16<<20), // a CR every 256 bytes on average
		"zeros":  make([]byte, 16<<20), // no CR at all
		"crlf":   bytes.Repeat([]byte("line of text, CRLF ended\r\n"), 16<<20/26),
	}
	for i := range contents["random"] {
		contents["random"][i] = byte(rng.Uint32())
	}
	for _, name := range []string{"random", "zeros", "crlf"} {
		body := buildBody("----WebKitFormBoundary7MA4YWxkTrZu0gW",
			writerPart{name: "upload", filename: "big.bin", contentType: "application/octet-stream", data: string(contents[name])})
		b.Run(name, func(b *testing.B) {
			h := new(nopHandler)
			p := NewParser("----WebKitFormBoundary7MA4YWxkTrZu0gW", Limits{}, h)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				p.Reset("----WebKitFormBoundary7MA4YWxkTrZu0gW", Limits{}, h)
				feedWindows(b, p, body, 64<<10)
			}
		})
	}
}

func BenchmarkParseForm20Fields(b *testing.B) {
	var parts []writerPart
	for i := range 20 {
		parts = append(parts, writerPart{name: fmt.Sprintf("field%d", i), data: fmt.Sprintf("value number %d", i)})
	}
	body := buildBody(testBoundary, parts...)
	h := new(nopHandler)
	p := NewParser(testBoundary, Limits{}, h)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p.Reset(testBoundary, Limits{}, h)
		feedWindows(b, p, body, 4096)
	}
}
