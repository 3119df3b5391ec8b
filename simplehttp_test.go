package httpev

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandlerTableOrder(t *testing.T) {
	tbl, err := NewHandlerTable([]Handler{
		{Dir: `^/static/(.*)$`, Func: func(c *CGI) { c.Printf("static %s via %s", c.DirMatch()[1], c.Dir()) }},
		{Dir: `^/s`, Func: func(c *CGI) { c.Print("second") }},
		{Dir: `^/$`, Func: func(c *CGI) { c.Print("root") }},
	})
	require.NoError(t, err)
	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {})
	l, err := srv.ListenHandlers("127.0.0.1:0", tbl, ListenOptions{})
	require.NoError(t, err)
	base := "http://" + l.Addr().String()
	cases := []struct {
		path, body string
		status     int
	}{
		{"/static/a.css", `static a.css via ^/static/(.*)$`, 200},
		{"/something", "second", 200}, // ^/s also matches /static: order decides
		{"/", "root", 200},
		{"/nothing", "404 Not Found\n", 404},
	}
	for _, tc := range cases {
		resp, body := get(t, base+tc.path)
		assert.Equal(t, tc.status, resp.StatusCode, tc.path)
		assert.Equal(t, tc.body, body, tc.path)
	}

	copied := tbl.Handlers()
	copied[0].Dir = "changed"
	assert.Equal(t, `^/static/(.*)$`, tbl.Handlers()[0].Dir, "Handlers returns a copy")
	err = tbl.SetHandlers([]Handler{{Dir: "(unclosed", Func: func(*CGI) {}}})
	assert.Error(t, err)
	_, body := get(t, base+"/")
	assert.Equal(t, "root", body, "a rejected table leaves the old one in place")
}

func TestHandlerTableSwapUnderLoad(t *testing.T) {
	mk := func(name string) []Handler {
		return []Handler{{Dir: "^/", Func: func(c *CGI) { c.Print(name) }}}
	}
	tbl, err := NewHandlerTable(mk("a"))
	require.NoError(t, err)
	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {})
	l, err := srv.ListenHandlers("127.0.0.1:0", tbl, ListenOptions{Threading: true})
	require.NoError(t, err)
	base := "http://" + l.Addr().String()
	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Add(1)
	go func() {
		defer swaps.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			require.NoError(t, tbl.SetHandlers(mk([]string{"a", "b"}[i%2])))
		}
	}()
	c := client()
	for range 200 {
		resp, err := c.Get(base + "/")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, []string{"a", "b"}, string(b))
	}
	close(stop)
	swaps.Wait()
}

func TestBadRequestToCatchAll(t *testing.T) {
	tbl, err := NewHandlerTable([]Handler{{Dir: "^/", Func: func(c *CGI) { c.Print("fine") }}})
	require.NoError(t, err)
	tbl.BadRequest = func(c *CGI) { c.Printf("custom: %v", c.Err() != nil) }
	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {})
	l, err := srv.ListenHandlers("127.0.0.1:0", tbl, ListenOptions{})
	require.NoError(t, err)
	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost : x\r\n\r\n")
	resp, body := readResponse(t, br, "GET")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "custom: true", body)
	expectClosed(t, br)
}

func TestStreamToSlowReader(t *testing.T) {
	const pieces, pieceSize = 400, 64 << 10 // 25 MiB in all
	var produced atomic.Int64
	done := make(chan struct{})
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		piece := bytes.Repeat([]byte("x"), pieceSize)
		n := 0
		c.Stream(func(c *CGI) bool {
			if n == pieces {
				close(done)
				return false
			}
			n++
			produced.Add(pieceSize)
			c.Write(piece)
			return true
		})
	})
	conn, br := rawConn(t, l)
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	var consumed int64
	buf := make([]byte, 32<<10)
	for consumed < 4<<20 { // read slowly at first
		n, err := resp.Body.Read(buf)
		require.NoError(t, err)
		consumed += int64(n)
		time.Sleep(time.Millisecond)
	}
	// The producer is paced by the reader: it is at most the socket buffers
	// and a piece or two ahead, not the whole 25 MiB.
	ahead := produced.Load() - consumed
	assert.Less(t, ahead, int64(12<<20), "producer ran %d bytes ahead of a slow reader", ahead)
	rest, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(pieces*pieceSize), consumed+rest)
	<-done
}

func TestServerSentEvents(t *testing.T) {
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Header(http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}})
		n := 0
		c.Stream(func(c *CGI) bool {
			n++
			c.Printf("id: %d\ndata: tick %d\n\n", n, n)
			return n < 3
		})
	})
	resp, err := client().Get(base + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	var data []string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	assert.Equal(t, []string{"tick 1", "tick 2", "tick 3"}, data)
}

func TestDontFlushStream(t *testing.T) {
	// dont_flush: the application decides when pieces go, here on a timer.
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.Keep()
		n := 0
		var tick func()
		tick = func() {
			n++
			c.Printf("piece %d\n", n)
			c.Flush()
			if n == 3 {
				c.Close()
				return
			}
			time.AfterFunc(10*time.Millisecond, tick)
		}
		tick()
	})
	_, body := get(t, base)
	assert.Equal(t, "piece 1\npiece 2\npiece 3\n", body)
}

func TestCloseHandlers(t *testing.T) {
	fired := make(chan string, 4)
	_, l, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		c.AddCloseHandler(func() { fired <- "kept " + c.Path() })
		remove := c.AddCloseHandler(func() { fired <- "removed" })
		remove()
		c.Keep() // a long poll the client abandons
	})
	conn, _ := rawConn(t, l)
	io.WriteString(conn, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	conn.Close()
	select {
	case got := <-fired:
		assert.Equal(t, "kept /poll", got)
	case <-time.After(5 * time.Second):
		t.Fatal("close handler did not fire on client abort")
	}
	select {
	case got := <-fired:
		t.Fatalf("unexpected %q", got)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestLogHandlers(t *testing.T) {
	type before struct {
		hasCGI bool
		ip     string
	}
	befores := make(chan before, 4)
	afters := make(chan LogEntry, 4)
	var access bytes.Buffer
	var accessMu sync.Mutex
	accessLog := AccessLog(lockedWriter{&accessMu, &access})
	_, l, base := testServer(t, Options{}, ListenOptions{
		OnRequestLog:  func(c *CGI, ip string) { befores <- before{c != nil, ip} },
		OnResponseLog: func(e LogEntry) { accessLog(e); afters <- e }, // logged before the test reads it
	}, func(c *CGI) { c.Print("hello") })

	req, _ := http.NewRequest("GET", base+"/page?x=1", nil)
	req.Header.Set("User-Agent", `agent "quoted"`)
	req.Header.Set("Referer", "http://ref/")
	req.SetBasicAuth("alice", "pw")
	resp, err := client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	b := <-befores
	assert.Equal(t, before{true, "127.0.0.1"}, b)
	e := <-afters
	assert.Equal(t, 200, e.Status)
	assert.Equal(t, int64(5), e.Bytes)
	assert.Equal(t, "/page?x=1", e.URI)
	assert.Equal(t, "alice", e.User)

	conn, br := rawConn(t, l)
	io.WriteString(conn, "GET / HTTP/1.1\r\nBad Header\r\n\r\n")
	readResponse(t, br, "GET")
	b = <-befores
	assert.Equal(t, before{false, "127.0.0.1"}, b, "malformed requests are logged with a nil request")
	e = <-afters
	assert.Equal(t, 400, e.Status)
	assert.Nil(t, e.CGI)

	accessMu.Lock()
	lines := strings.Split(strings.TrimSpace(access.String()), "\n")
	accessMu.Unlock()
	require.Len(t, lines, 2)
	assert.Regexp(t, `^127\.0\.0\.1 - alice \[[^]]+\] "GET /page\?x=1 HTTP/1\.1" 200 5 "http://ref/" "agent \\"quoted\\""$`, lines[0])
	assert.Regexp(t, `^127\.0\.0\.1 - - \[[^]]+\] "-" 400 - "-" "-"$`, lines[1])
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestListenerCloseAndReopen(t *testing.T) {
	srv, l, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) { c.Print("one") })
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err := net.Dial("tcp", addr)
	require.Error(t, err)
	l2, err := srv.Listen(addr, func(c *CGI) { c.Print("two") }, ListenOptions{})
	require.NoError(t, err, "the same port can be listened on again")
	_, body := get(t, base)
	assert.Equal(t, "two", body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, l2.Shutdown(ctx))
}

func TestDefaultHeadersHostnameProxyMode(t *testing.T) {
	got := make(chan [2]string, 2)
	for _, proxy := range []bool{false, true} {
		_, l, _ := testServer(t, Options{ProxyMode: proxy, Hostname: "myhost",
			Headers: http.Header{"X-Frame-Options": {"DENY"}}}, ListenOptions{},
			func(c *CGI) { got <- [2]string{c.Env("REQUEST_URI"), c.Env("SERVER_NAME")} })
		conn, br := rawConn(t, l)
		io.WriteString(conn, "GET http://example.com/x?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\nGET /z HTTP/1.0\r\n\r\n")
		resp, _ := readResponse(t, br, "GET")
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		if proxy {
			assert.Equal(t, [2]string{"http://example.com/x?y=1", "example.com"}, <-got)
		} else {
			assert.Equal(t, [2]string{"/x?y=1", "example.com"}, <-got)
		}
		readResponse(t, br, "GET")
		assert.Equal(t, [2]string{"/z", "myhost"}, <-got)
	}
}

// selfSigned writes a fresh certificate and key for 127.0.0.1 and localhost.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "httpev test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	_, _, base := testServer(t, Options{}, ListenOptions{CertFile: certFile, KeyFile: keyFile},
		func(c *CGI) { c.Printf("https=%s", c.Env("HTTPS")) })
	base = strings.Replace(base, "http://", "https://", 1)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(base + "/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "https=on", string(b))
	assert.NotNil(t, resp.TLS)

	srv, err := New(Options{TmpPath: t.TempDir()})
	require.NoError(t, err)
	defer srv.Close()
	_, err = srv.Listen("127.0.0.1:0", func(*CGI) {}, ListenOptions{CertFile: "missing.pem", KeyFile: "missing.key"})
	assert.ErrorContains(t, err, "TLS certificate")
}

// TestTLSChainFile: with ChainFile the server sends the intermediate
// certificate after its own, so a client that trusts only the root can
// verify it; without it the same client fails the handshake.
func TestTLSChainFile(t *testing.T) {
	dir := t.TempDir()
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return cert, key
	}
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	root, rootKey := issue(ca(1, "httpev test root"), nil, nil)
	inter, interKey := issue(ca(2, "httpev test intermediate"), root, rootKey)
	leaf, leafKey := issue(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "httpev test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, interKey)
	kder, err := x509.MarshalECPrivateKey(leafKey)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return f
	}
	certFile, keyFile := write("leaf.pem", "CERTIFICATE", leaf.Raw), write("leaf.key", "EC PRIVATE KEY", kder)
	chainFile := write("chain.pem", "CERTIFICATE", inter.Raw)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()

	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {})
	for _, withChain := range []bool{true, false} {
		lo := ListenOptions{CertFile: certFile, KeyFile: keyFile}
		if withChain {
			lo.ChainFile = chainFile
		}
		l, err := srv.Listen("127.0.0.1:0", func(c *CGI) { c.Print("ok") }, lo)
		require.NoError(t, err)
		resp, err := c.Get("https://" + l.Addr().String() + "/")
		if !withChain {
			var unknown x509.UnknownAuthorityError
			assert.ErrorAs(t, err, &unknown, "without the chain the client cannot reach its root")
			continue
		}
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "ok", string(body))
		require.Len(t, resp.TLS.PeerCertificates, 2, "leaf and intermediate")
		assert.Equal(t, inter.Raw, resp.TLS.PeerCertificates[1].Raw)
	}
	_, err = srv.Listen("127.0.0.1:0", func(*CGI) {}, ListenOptions{CertFile: certFile, KeyFile: keyFile,
		ChainFile: filepath.Join(dir, "missing.pem")})
	assert.ErrorContains(t, err, "TLS chain")
}

func TestIPv6AndUnixSocket(t *testing.T) {
	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {})
	if l6, err := srv.Listen("[::1]:0", func(c *CGI) { c.Print(c.Env("REMOTE_ADDR")) }, ListenOptions{}); err == nil {
		_, body := get(t, "http://"+l6.Addr().String())
		assert.Equal(t, "::1", body)
	} else {
		t.Logf("no IPv6 loopback here: %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	lu, err := srv.Listen("unix:"+sock, func(c *CGI) { c.Print("over unix") }, ListenOptions{})
	require.NoError(t, err)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	resp, err := c.Get("http://unix/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "over unix", string(b))
	require.NoError(t, lu.Close())
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "the socket file goes with the listener")
}

func TestReusePortAndForkHook(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT support is Linux-only")
	}
	hooked := make(chan net.Addr, 1)
	srv, _, _ := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {})
	l1, err := srv.Listen("127.0.0.1:0", func(c *CGI) { c.Print("one") },
		ListenOptions{ReusePort: true, ForkHook: func(l *PortListener) { hooked <- l.Addr() }})
	require.NoError(t, err)
	assert.Equal(t, l1.Addr(), <-hooked, "ForkHook runs with the socket bound")
	l2, err := srv.Listen(l1.Addr().String(), func(c *CGI) { c.Print("two") }, ListenOptions{ReusePort: true})
	require.NoError(t, err, "a second socket shares the port")
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		_, body := get(t, "http://"+l1.Addr().String())
		seen[body] = true
	}
	assert.Equal(t, map[string]bool{"one": true, "two": true}, seen, "the kernel spreads connections over both")
	f, err := l2.File()
	require.NoError(t, err)
	f.Close()
}

func TestBasicAuth(t *testing.T) {
	_, _, base := testServer(t, Options{}, ListenOptions{}, func(c *CGI) {
		if !c.RequireBasicAuth("My Realm", func(u, p string) bool { return u == "bob" && SecureCompare(p, "secret") }) {
			return
		}
		user, _, _ := c.BasicAuth()
		c.Printf("welcome %s", user)
	})
	for _, tc := range []struct {
		user, pass string
		status     int
		body       string
	}{{"", "", 401, "401 Unauthorized\n"}, {"bob", "wrong", 401, "401 Unauthorized\n"}, {"bob", "secret", 200, "welcome bob"}} {
		req, _ := http.NewRequest("GET", base, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := client().Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, tc.status, resp.StatusCode)
		assert.Equal(t, tc.body, string(b))
		if tc.status == 401 {
			assert.Equal(t, `Basic realm="My Realm", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
