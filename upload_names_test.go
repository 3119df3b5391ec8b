package httpev

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed's upload of a filename with control bytes, over a raw socket:
// the name's bytes are on the wire as they are (NUL included), with the
// backslash bare and as Perl's HTTP::Request::Common quotes it ("\\").
// Name is the seed's sanitised name, RawName the bytes; the connection
// stays usable. A NUL in an HTTP header is still refused.
func TestUploadFileNameWithControlBytes(t *testing.T) {
	const raw = "../.\\..:<>utf8_файл\x00.jpg"
	for _, threading := range []bool{false, true} {
		for _, quoted := range []string{raw, strings.ReplaceAll(raw, `\`, `\\`)} {
			t.Run(fmt.Sprintf("threading=%v/%q", threading, quoted), func(t *testing.T) {
				_, l, _ := testServer(t, Options{}, ListenOptions{Threading: threading}, func(c *CGI) {
					for _, f := range c.Files() {
						fmt.Fprintf(c, "%q %q %d\n", f.Name(), f.RawName(), f.Size())
					}
				})
				const bnd = "XyZzY"
				body := "--" + bnd + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + quoted + "\"\r\n" +
					"Content-Type: image/jpeg\r\n\r\nJPEGDATA\r\n--" + bnd + "--\r\n"
				req := fmt.Sprintf("POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=%s\r\n"+
					"Content-Length: %d\r\n\r\n%s", bnd, len(body), body)
				nc, br := rawConn(t, l)
				_, err := io.WriteString(nc, req+req)
				require.NoError(t, err)
				for range 2 {
					resp, got := readResponse(t, br, "POST")
					require.Equal(t, 200, resp.StatusCode)
					assert.Equal(t, fmt.Sprintf("%q %q 8\n", ".._.__..___utf8_файл.jpg", raw), got)
					assert.False(t, resp.Close)
				}

				_, err = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: h\r\nX-Name: a\x00b\r\n\r\n")
				require.NoError(t, err)
				resp, _ := readResponse(t, br, "GET")
				assert.Equal(t, 400, resp.StatusCode)
				expectClosed(t, br)
			})
		}
	}
}
