package main

import (
	_ "embed"
	"net/http"

	"github.com/httpev/httpev"
)

// page is the whole user interface: one HTML file with its CSS and plain
// JavaScript inline, embedded so the binary is all there is to deploy and
// the page works offline (no CDN, no external assets).
//
//go:embed page.html
var page string

// pageCSP allows the page's inline script and style and connections back
// to this server only, so nothing external can ever be loaded by it.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// servePage answers GET and HEAD /. The page is small and finished before
// the callback returns, so the library sends it with a Content-Length.
func servePage(c *httpev.CGI) {
	c.Header(http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Content-Security-Policy": {pageCSP},
		"Cache-Control":           {"no-cache"},
	})
	_, _ = c.WriteString(page)
}
