package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/httpev/httpev"
)

// echoReport is the answer of /echo: what the CGI object parsed, so clients
// (curl, browsers, tests in other languages) can check the server's view
// of their request.
type echoReport struct {
	Method  string                `json:"method"`
	Env     map[string]string     `json:"env"`
	Get     map[string][]string   `json:"get"`
	Post    map[string][]string   `json:"post"`
	Cookies map[string]string     `json:"cookies"`
	Files   map[string][]echoFile `json:"files"`
	Body    *echoBody             `json:"body,omitempty"`
	// PID is the process that answered: with -procs, or several instances
	// behind a proxy, it shows which one served the request.
	PID int `json:"pid"`
}

type echoFile struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// echoBody describes a body the server left for the callback: any body that
// is not a form. It is hashed as it streams by, never held whole.
type echoBody struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// echo answers any method on /echo with 200 and an echoReport. Requests the
// server rejects (too long, malformed, over a limit) never get here: they
// keep the library's own 4xx.
func (a *app) echo(c *httpev.CGI) {
	rep := a.describe(c)
	if !hasRawBody(c) {
		writeJSON(c, http.StatusOK, rep)
		return
	}
	// Reading the body waits on the client; offLoop keeps that wait off the
	// loop goroutine (and the report above was built before, while the
	// request is certainly the connection's current one).
	a.offLoop(c, func() {
		h := sha256.New()
		n, err := io.Copy(h, c.Body())
		if err != nil {
			// A client that stops mid-body gets no report of half a body.
			a.log.Info("echo: reading the body failed", "err", err)
			c.Drop()
			return
		}
		rep.Body = &echoBody{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
		writeJSON(c, http.StatusOK, rep)
	})
}

// describe gathers everything but a raw body.
func (a *app) describe(c *httpev.CGI) *echoReport {
	rep := &echoReport{
		Method:  c.Method(),
		Env:     c.Envs(),
		Get:     map[string][]string{},
		Post:    map[string][]string{},
		Cookies: map[string]string{},
		Files:   map[string][]echoFile{},
		PID:     os.Getpid(),
	}
	for _, name := range c.ParamNames() {
		if vs := c.Get(name); len(vs) > 0 {
			rep.Get[name] = vs
		}
		if vs := c.Post(name); len(vs) > 0 {
			rep.Post[name] = vs
		}
	}
	for _, name := range cookieNames(c.Env("HTTP_COOKIE")) {
		rep.Cookies[name] = c.Cookie(name)
	}
	sums := a.recv.sums(c)
	for _, f := range c.Files() {
		rep.Files[f.FieldName()] = append(rep.Files[f.FieldName()], echoFile{
			Name: f.Name(), Size: f.Size(), SHA256: sums[f], ContentType: f.ContentType()})
	}
	return rep
}

// hasRawBody reports whether the request has a body the server did not
// parse itself (it parses urlencoded and multipart forms).
func hasRawBody(c *httpev.CGI) bool {
	chunked := strings.Contains(strings.ToLower(c.Env("HTTP_TRANSFER_ENCODING")), "chunked")
	if cl := c.Env("CONTENT_LENGTH"); !chunked && (cl == "" || cl == "0") {
		return false
	}
	ct, _, _ := strings.Cut(strings.ToLower(c.Env("CONTENT_TYPE")), ";")
	switch strings.TrimSpace(ct) {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		return false
	}
	return true
}

// cookieNames lists the names in a Cookie header, each once. The library
// answers Cookie(name) but has no list of names, so the header is split
// here the way RFC 6265 (section 5.4) lays it out.
func cookieNames(header string) []string {
	var names []string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(header, ";") {
		name, _, _ := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}
