package form

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// benchQuery is a 10-field search-page query string with a few escapes.
const benchQuery = "q=golang+http+server&lang=en&page=2&per_page=50&sort=desc" +
	"&filter=%D1%82%D0%B5%D0%BA%D1%81%D1%82&utm_source=newsletter&utm_medium=email&id=12345&debug=0"

// benchCookie is the Cookie header of a browser on a site with analytics, a
// session, CSRF protection and a few preferences.
const benchCookie = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; " +
	"sessionid=abc123def456ghi789jkl012; csrftoken=Xy7Zk9LmN0pQ2rS4tU6vW8aB1cD3eF5g; lang=ru; " +
	"theme=dark; consent=%7B%22ads%22%3Afalse%2C%22stats%22%3Atrue%7D; cart=\"3 items\""

func BenchmarkParseQuery(b *testing.B) {
	raw := []byte(benchQuery)
	var d Decoder
	dst := make([]Pair, 0, 16)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = d.ParseQuery(dst[:0], raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseQueryCP1251 is the legacy path: every value needs converting.
func BenchmarkParseQueryCP1251(b *testing.B) {
	raw := []byte("a=%F2%E5%EA%F1%F2&b=%EC%E8%F0&c=%EF%F0%E8%E2%E5%F2")
	d := Decoder{Legacy: charmap.Windows1251}
	dst := make([]Pair, 0, 16)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = d.ParseQuery(dst[:0], raw)
	}
}

// BenchmarkNetURLParseQuery is the standard library baseline for the same input.
func BenchmarkNetURLParseQuery(b *testing.B) {
	b.SetBytes(int64(len(benchQuery)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := url.ParseQuery(benchQuery); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCookies(b *testing.B) {
	raw := []byte(benchCookie)
	var d Decoder
	dst := make([]Pair, 0, 16)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = d.ParseCookies(dst[:0], raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPCookies is the standard library baseline for the same header.
func BenchmarkNetHTTPCookies(b *testing.B) {
	r := &http.Request{Header: http.Header{"Cookie": {benchCookie}}}
	b.SetBytes(int64(len(benchCookie)))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Cookies()
	}
}
