package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "512K": 512 << 10, "10M": 10 << 20, "10m": 10 << 20,
		"1G": 1 << 30, "2T": 2 << 40, "1.5G": 3 << 29, "10MB": 10 << 20, "10MiB": 10 << 20,
	} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "x", "-1", "10X", "1.5.5M", "99999999999T"} {
		_, err := parseSize(in)
		assert.Error(t, err, in)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.addr, "go run ./cmd/httpev-upload serves on 127.0.0.1:8080")
	assert.Equal(t, "./uploads", cfg.dir)
	assert.Equal(t, filepath.Join("uploads", ".tmp"), cfg.tmp, "temp files on the same filesystem as -dir")

	cfg, err = parseConfig([]string{"-max-file-size", "10M", "-io", "blocking", "-threading"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(10<<20), cfg.maxFileSize)
	assert.True(t, cfg.threading)

	for _, args := range [][]string{
		{"-io", "mmap"}, {"-tls-cert", "c.pem"}, {"-max-file-size", "lots"}, {"extra"},
	} {
		_, err := parseConfig(args, io.Discard)
		assert.Error(t, err, "%v", args)
	}
}

func TestLegacyCharset(t *testing.T) {
	app := startApp(t, "-legacy-charset", "windows-1251")
	// "Привет" in windows-1251: not UTF-8, so it is decoded as the legacy charset.
	status, _, out := do(t, newRequest(t, "GET", app.base+"/echo?w=%CF%F0%E8%E2%E5%F2&u=%D0%BF", nil))
	require.Equal(t, http.StatusOK, status)
	r := decode[echoReport](t, out)
	assert.Equal(t, []string{"Привет"}, r.Get["w"])
	assert.Equal(t, []string{"п"}, r.Get["u"], "valid UTF-8 stays as it is")
}

func TestBackendTrustsXRealIP(t *testing.T) {
	for _, backend := range []bool{false, true} {
		t.Run(fmt.Sprint("backend=", backend), func(t *testing.T) {
			app := startApp(t, fmt.Sprint("-backend=", backend))
			req := newRequest(t, "GET", app.base+"/echo", nil)
			req.Header.Set("X-Real-IP", "203.0.113.7")
			status, _, out := do(t, req)
			require.Equal(t, http.StatusOK, status)
			want := "127.0.0.1"
			if backend {
				want = "203.0.113.7"
			}
			assert.Equal(t, want, decode[echoReport](t, out).Env["REMOTE_ADDR"])
		})
	}
}

func TestTimeoutDropsAStalledRequest(t *testing.T) {
	app := startApp(t, "-timeout", "300ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(app.base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	// Half a form body, then silence.
	fmt.Fprint(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1")
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	app := startApp(t, "-tls-cert", certFile, "-tls-key", keyFile)
	require.True(t, strings.HasPrefix(app.base, "https://"))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := c.Get(app.base + "/echo?x=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "on", decode[echoReport](t, body).Env["HTTPS"])

	data := randomBytes(t, 300<<10)
	ct, form := multipartBody(t, part{field: "file", name: "secure.bin", data: data})
	resp, err = c.Post(app.base+"/files", ct, strings.NewReader(string(form)))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, sha(data), decode[listing](t, body).Files[0].SHA256)

	_, err = http.Get(strings.Replace(app.base, "https://", "http://", 1) + "/echo")
	assert.Error(t, err, "plain HTTP is not answered on a TLS port")
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "httpev-upload test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
