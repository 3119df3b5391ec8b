package httpevtest

import (
	"bytes"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// NewForm builds a POST of values to target as an HTML form submits it
// (application/x-www-form-urlencoded).
func NewForm(target string, values url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// Upload is one file of a multipart request.
type Upload struct {
	Field       string
	Name        string // the file name the client sends
	ContentType string // default application/octet-stream
	Content     []byte
	// Body, when set, is read instead of Content while the request is
	// sent, so a test can upload gigabytes without holding them; the
	// request then has no Content-Length and goes out chunked.
	Body io.Reader
}

// NewMultipart builds a POST of fields and files to target as a browser
// submits a form with file inputs (multipart/form-data).
func NewMultipart(target string, fields url.Values, files ...Upload) *http.Request {
	streamed := false
	for _, f := range files {
		streamed = streamed || f.Body != nil
	}
	if !streamed {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = writeParts(mw, fields, files)
		req := httptest.NewRequest(http.MethodPost, target, &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return req
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeParts(mw, fields, files)) }()
	req := httptest.NewRequest(http.MethodPost, target, pr)
	req.ContentLength = -1
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

func writeParts(mw *multipart.Writer, fields url.Values, files []Upload) error {
	for _, name := range slices.Sorted(maps.Keys(fields)) { // a stable body
		for _, v := range fields[name] {
			if err := mw.WriteField(name, v); err != nil {
				return err
			}
		}
	}
	for _, f := range files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", `form-data; name="`+quote(f.Field)+`"; filename="`+quote(f.Name)+`"`)
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		var body io.Reader = bytes.NewReader(f.Content)
		if f.Body != nil {
			body = f.Body
		}
		if _, err := io.Copy(w, body); err != nil {
			return err
		}
	}
	return mw.Close()
}

var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quote(s string) string { return quoter.Replace(s) }
