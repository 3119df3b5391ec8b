package httpev_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/httpev/httpev"
)

// A handler table routes by path, first match wins, as SimpleHTTP's HANDLERS.
func ExampleHandlerTable() {
	tmp, _ := os.MkdirTemp("", "httpev-example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	table, err := httpev.NewHandlerTable([]httpev.Handler{
		{Dir: `^/hello/(\w+)$`, Func: func(c *httpev.CGI) { c.Printf("hello %s\n", c.DirMatch()[1]) }},
		{Dir: `^/$`, Func: func(c *httpev.CGI) { c.Print("index\n") }},
	})
	if err != nil {
		log.Fatal(err)
	}
	l, _ := srv.ListenHandlers("127.0.0.1:0", table, httpev.ListenOptions{})

	for _, path := range []string{"/", "/hello/perl", "/missing"} {
		resp, _ := http.Get("http://" + l.Addr().String() + path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s", path, resp.StatusCode, body)
	}

	// SETHANDLERS: swap the table while the server runs.
	rows := table.Handlers()
	rows = append(rows, httpev.Handler{Dir: "^/missing$", Func: func(c *httpev.CGI) { c.Print("found now\n") }})
	_ = table.SetHandlers(rows)
	resp, _ := http.Get("http://" + l.Addr().String() + "/missing")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("/missing %d %s", resp.StatusCode, body)
	// Output:
	// / 200 index
	// /hello/perl 200 hello perl
	// /missing 404 404 Not Found
	// /missing 200 found now
}

// Stream sends server-sent events; each event is produced once the previous
// one has reached the client.
func ExampleCGI_Stream() {
	tmp, _ := os.MkdirTemp("", "httpev-example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	l, _ := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		c.Header(http.Header{"Content-Type": {"text/event-stream"}})
		n := 0
		c.Stream(func(c *httpev.CGI) bool {
			n++
			c.Printf("data: event %d\n\n", n)
			return n < 3 // false ends the response
		})
	}, httpev.ListenOptions{})

	resp, err := http.Get("http://" + l.Addr().String() + "/events")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data:") {
			fmt.Println(line)
		}
	}
	// Output:
	// data: event 1
	// data: event 2
	// data: event 3
}

// Serving HTTPS: a *tls.Config, or CertFile/KeyFile (and ChainFile) in
// ListenOptions.
func ExampleListenOptions_tls() {
	tmp, _ := os.MkdirTemp("", "httpev-example")
	defer os.RemoveAll(tmp)
	srv, _ := httpev.New(httpev.Options{TmpPath: tmp})
	defer srv.Close()

	cert, pool := exampleCert()
	l, err := srv.Listen("127.0.0.1:0", func(c *httpev.CGI) {
		c.Printf("HTTPS=%s\n", c.Env("HTTPS"))
	}, httpev.ListenOptions{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		log.Fatal(err)
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + l.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output: HTTPS=on
}

// exampleCert makes a throwaway certificate for 127.0.0.1.
func exampleCert() (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
