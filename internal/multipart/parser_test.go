package multipart

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testBoundary = "xYzZY"

// trickyContents are contents that contain delimiter look-alikes.
var trickyContents = []string{
	"",
	"a",
	"\r",
	"\n",
	"\r\n",
	"\r\n\r\n",
	"--",
	"\r\n--",
	"-- " + testBoundary,
	"\r\n-" + testBoundary,
	"\r\n--" + testBoundary[:3],
	"\r\n--" + testBoundary + "X",
	"\r\n--" + testBoundary + "-X",
	"\r\n--" + testBoundary + "-",
	"\n--" + testBoundary + "\r\n", // LF is content in a CRLF body
	"\r--" + testBoundary + "\r\n",
	"x\r\n--" + testBoundary + "xx\r\n--" + testBoundary + "_\r\n--" + testBoundary + "-a",
	"--" + testBoundary + "X at the start",
	"ends with CR\r",
	"ends with CRLF-\r\n-",
	"ends with a boundary prefix\r\n--xYz",
	"ends with the boundary\r\n--" + testBoundary + "=",
	strings.Repeat("\r\n-", 100),
	strings.Repeat("\r", 5000),
}

func TestParseWriterBodies(t *testing.T) {
	var parts []writerPart
	var want []gotPart
	for i, c := range trickyContents {
		name := "f" + string(rune('a'+i%26))
		wp := writerPart{name: name, data: c}
		g := gotPart{Name: name, Data: c}
		if i%3 == 1 {
			wp.filename, wp.contentType = "file.bin", "application/octet-stream"
			g.FileName, g.IsFile, g.ContentType = "file.bin", true, "application/octet-stream"
		}
		parts = append(parts, wp)
		want = append(want, g)
	}
	body := buildBody(testBoundary, parts...)

	for _, chunk := range []int{1, 2, 3, 7, 13, 64, 1000, len(body)} {
		got, err := parseChunks(body, testBoundary, Limits{}, chunk)
		require.NoError(t, err, "chunk %d", chunk)
		require.Equal(t, want, got, "chunk %d", chunk)
	}
	got, err := mimeParts(body, testBoundary)
	require.NoError(t, err)
	require.Equal(t, want, got, "mime/multipart disagrees")
}

// TestParseEverySplit feeds small bodies in two pieces, split at every byte.
func TestParseEverySplit(t *testing.T) {
	for _, c := range trickyContents {
		if len(c) > 300 {
			continue
		}
		body := buildBody(testBoundary,
			writerPart{name: "a", data: c},
			writerPart{name: "b", filename: "b.txt", data: c + "!"},
			writerPart{name: "c", data: ""})
		want := []gotPart{
			{Name: "a", Data: c},
			{Name: "b", FileName: "b.txt", IsFile: true, Data: c + "!"},
			{Name: "c"},
		}
		for i := 0; i <= len(body); i++ {
			got, err := parseSplit(body, testBoundary, i)
			require.NoError(t, err, "content %q split %d", c, i)
			require.Equal(t, want, got, "content %q split %d", c, i)
		}
	}
}

// TestParseRawBodies covers bodies mime/multipart.Writer does not produce.
func TestParseRawBodies(t *testing.T) {
	const b = testBoundary
	cd := func(name string) string { return "Content-Disposition: form-data; name=\"" + name + "\"\r\n" }
	tests := []struct {
		name string
		body string
		want []gotPart
	}{
		{"no leading CRLF, no preamble",
			"--" + b + "\r\n" + cd("a") + "\r\nA\r\n--" + b + "--",
			[]gotPart{{Name: "a", Data: "A"}}},
		{"preamble and epilogue",
			"preamble line\r\n--" + b + "X not yet\r\n--" + b + "-- nope\r\n\r\n--" + b + "\r\n" + cd("a") + "\r\nA\r\n--" + b + "--\r\nepilogue --" + b + "\r\ngarbage",
			[]gotPart{{Name: "a", Data: "A"}}},
		{"transport padding",
			"--" + b + " \t \r\n" + cd("a") + "\r\nA\r\n--" + b + "\t\r\n" + cd("b") + "\r\nB\r\n--" + b + "-- \t\r\n",
			[]gotPart{{Name: "a", Data: "A"}, {Name: "b", Data: "B"}}},
		{"close delimiter without line break at EOF",
			"--" + b + "\r\n" + cd("a") + "\r\nA\r\n--" + b + "--  ",
			[]gotPart{{Name: "a", Data: "A"}}},
		{"empty part closed by a bare boundary after the header",
			"--" + b + "\r\n" + cd("a") + "\r\n--" + b + "\r\n" + cd("b") + "\r\nB\r\n--" + b + "--\r\n",
			[]gotPart{{Name: "a"}, {Name: "b", Data: "B"}}},
		{"LF line breaks",
			"--" + b + "\n" + cd("a")[:len(cd("a"))-2] + "\n\nA\r\n--" + b + "x\n--" + b + "\ncontent-disposition: form-data; name=b\n\n\n--" + b + "--\n",
			[]gotPart{{Name: "a", Data: "A\r\n--" + b + "x"}, {Name: "b"}}},
		{"no parts",
			"--" + b + "--\r\n",
			nil},
		{"part without headers",
			"--" + b + "\r\n\r\nA\r\n--" + b + "--\r\n",
			[]gotPart{{Data: "A"}}},
		{"missing Content-Type, folded header, odd case",
			"--" + b + "\r\ncontent-DISPOSITION: form-data;\r\n\tname=\"a\";\r\n  FileName=\"x.txt\"\r\nX-Other:  v  \r\n\r\nA\r\n--" + b + "--\r\n",
			[]gotPart{{Name: "a", FileName: "x.txt", IsFile: true, Data: "A"}}},
		{"first Content-Type and Content-Disposition win",
			"--" + b + "\r\nContent-Type: text/plain\r\n" + cd("a") + cd("b") + "content-type: text/html\r\n\r\nA\r\n--" + b + "--\r\n",
			[]gotPart{{Name: "a", ContentType: "text/plain", Data: "A"}}},
		{"space before colon: not Content-Disposition",
			"--" + b + "\r\nContent-Disposition : form-data; name=a\r\n\r\nA\r\n--" + b + "--\r\n",
			[]gotPart{{Data: "A"}}},
		{"attachment disposition has no form name",
			"--" + b + "\r\nContent-Disposition: attachment; name=a; filename=f\r\n\r\nA\r\n--" + b + "--\r\n",
			[]gotPart{{FileName: "f", IsFile: true, Data: "A"}}},
		{"malformed disposition yields no names",
			"--" + b + "\r\nContent-Disposition: form-data; name=a b\r\n\r\nA\r\n--" + b + "--\r\n",
			[]gotPart{{Data: "A"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			for _, chunk := range []int{1, 2, 5, len(body)} {
				got, err := parseChunks(body, b, Limits{}, chunk)
				require.NoError(t, err, "chunk %d", chunk)
				require.Equal(t, tt.want, got, "chunk %d", chunk)
			}
			got, err := mimeParts(body, b)
			require.NoError(t, err, "mime/multipart")
			require.Equal(t, tt.want, got, "mime/multipart disagrees")
		})
	}
}

// The seed's upload test: a filename with control bytes, NUL included, as
// raw bytes on the wire, with the backslash sent bare or escaped as Perl's
// HTTP::Request::Common and Go's multipart.Writer escape it. FileName keeps
// the bytes; SafeFileName gives the seed's expected name.
func TestFileNameWithControlBytes(t *testing.T) {
	const b = testBoundary
	raw := "../.\\..:<>utf8_файл\x00.jpg"
	for _, quoted := range []string{raw, strings.ReplaceAll(raw, "\\", "\\\\"), "\x01\x1f\x7f" + raw} {
		body := "--" + b + "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"" + quoted + "\"\r\n" +
			"Content-Type: image/jpeg\r\n\r\nJPEG\r\n--" + b + "--\r\n"
		for _, chunk := range []int{1, 7, len(body)} {
			got, err := parseChunks([]byte(body), b, Limits{}, chunk)
			require.NoError(t, err, "chunk %d", chunk)
			require.Len(t, got, 1)
			want := raw
			if quoted[0] == '\x01' {
				want = "\x01\x1f\x7f" + raw
			}
			require.Equal(t, want, got[0].FileName, "raw name kept")
			require.Equal(t, ".._.__..___utf8_файл.jpg", SafeFileName(got[0].FileName))
			require.Equal(t, "f", got[0].Name)
		}
	}
}

func TestParseHeaderFields(t *testing.T) {
	body := "--B\r\nContent-Disposition: form-data; name=a\r\nX-Folded: one\r\n two \r\n\tthree\r\nX-Empty:\r\n\r\n\r\n--B--"
	r := new(recorder)
	_, err := NewParser("B", Limits{}, r).Feed([]byte(body), true)
	require.NoError(t, err)
	require.Equal(t, [][][2]string{{
		{"Content-Disposition", "form-data; name=a"},
		{"X-Folded", "one two three"},
		{"X-Empty", ""},
	}}, r.headers)
}

func TestParseErrors(t *testing.T) {
	const b = testBoundary
	head := "--" + b + "\r\nContent-Disposition: form-data; name=a\r\n\r\n"
	tests := []struct {
		name string
		body string
		lim  Limits
		want error
	}{
		{"empty body", "", Limits{}, ErrUnexpectedEOF},
		{"preamble only", "hello\r\n", Limits{}, ErrUnexpectedEOF},
		{"no closing boundary", head + "data", Limits{}, ErrUnexpectedEOF},
		{"delimiter at EOF", head + "data\r\n--" + b, Limits{}, ErrUnexpectedEOF},
		{"delimiter and CRLF at EOF", head + "data\r\n--" + b + "\r\n", Limits{}, ErrUnexpectedEOF},
		{"close dash at EOF", head + "data\r\n--" + b + "-", Limits{}, ErrUnexpectedEOF},
		{"close CR at EOF", head + "data\r\n--" + b + "--\r", Limits{}, ErrUnexpectedEOF},
		{"header at EOF", "--" + b + "\r\nContent-Disposition: form-da", Limits{}, ErrUnexpectedEOF},
		// mime/multipart returns io.EOF (success) for these two.
		{"EOF right after a delimiter line", "--" + b + "\n", Limits{}, ErrUnexpectedEOF},
		{"EOF after a header line", "--" + b + "\r\nContent-Disposition: form-data\r\n", Limits{}, ErrUnexpectedEOF},
		{"garbage after delimiter", head + "x\r\n--" + b + " x\r\n", Limits{}, ErrMalformed},
		{"garbage after close delimiter", head + "x\r\n--" + b + "--x\r\n", Limits{}, ErrMalformed},
		{"LF after delimiter in CRLF body", head + "x\r\n--" + b + "\n\r\n", Limits{}, ErrMalformed},
		{"CR without LF", head + "x\r\n--" + b + "\rx", Limits{}, ErrMalformed},
		{"header without colon", "--" + b + "\r\nno colon\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"header name not a token", "--" + b + "\r\nBad(Name): v\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"header name empty", "--" + b + "\r\n: v\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"header starts with continuation", "--" + b + "\r\n x: v\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"control byte in header", "--" + b + "\r\nX: a\x00b\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"control byte in field name parameter", "--" + b + "\r\nContent-Disposition: form-data; name=\"a\x00\"; filename=\"f\"\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"control byte outside quotes", "--" + b + "\r\nContent-Disposition: form-data; name=a;\x0bfilename=\"f\x00\"\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"control byte in unquoted filename", "--" + b + "\r\nContent-Disposition: form-data; name=a; filename=f\x00\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"control byte in a second disposition", "--" + b + "\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; filename=\"\x00\"\r\n\r\n\r\n--" + b + "--", Limits{}, ErrMalformed},
		{"header too long", "--" + b + "\r\nX: " + strings.Repeat("v", 100) + "\r\n\r\n\r\n--" + b + "--", Limits{MaxHeaderBytes: 50}, ErrHeaderTooLarge},
		{"header never ends", "--" + b + "\r\nX: " + strings.Repeat("v", 100), Limits{MaxHeaderBytes: 50}, ErrHeaderTooLarge},
		{"too many headers", "--" + b + "\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n\r\n--" + b + "--", Limits{MaxHeaders: 2}, ErrHeaderTooLarge},
		{"too many parts", head + "\r\n--" + b + "\r\n\r\n\r\n--" + b + "\r\n\r\n\r\n--" + b + "--", Limits{MaxParts: 2}, ErrTooManyParts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{1, 3, len(tt.body) + 1} {
				_, err := parseChunks([]byte(tt.body), b, tt.lim, chunk)
				require.ErrorIs(t, err, tt.want, "chunk %d", chunk)
			}
		})
	}
}

func TestHeaderLimitsExact(t *testing.T) {
	hdr := "Content-Disposition: form-data; name=a\r\n\r\n"
	body := []byte("--B\r\n" + hdr + "A\r\n--B--")
	_, err := parseChunks(body, "B", Limits{MaxHeaderBytes: len(hdr), MaxHeaders: 1}, 7)
	require.NoError(t, err)
	_, err = parseChunks(body, "B", Limits{MaxHeaderBytes: len(hdr) - 1}, 7)
	require.ErrorIs(t, err, ErrHeaderTooLarge)
}

// TestTruncatedBodies checks that no prefix of a body passes for a whole one.
func TestTruncatedBodies(t *testing.T) {
	body := buildBody(testBoundary,
		writerPart{name: "a", data: "hello\r\n--" + testBoundary + "X"},
		writerPart{name: "f", filename: "f.txt", contentType: "text/plain", data: "file"})
	require.True(t, bytes.HasSuffix(body, []byte("--"+testBoundary+"--\r\n")))
	for i := range len(body) - 2 { // body[:len-2] ends in "--boundary--": complete
		_, err := parseChunks(body[:i], testBoundary, Limits{}, 3)
		require.ErrorIs(t, err, ErrUnexpectedEOF, "prefix %d %q", i, body[:i])
	}
	_, err := parseChunks(body[:len(body)-1], testBoundary, Limits{}, 3)
	require.ErrorIs(t, err, ErrUnexpectedEOF)
}

type failingHandler struct {
	recorder
	at  string
	err error
}

func (f *failingHandler) PartBegin(p *Part) error {
	if f.at == "begin" {
		return f.err
	}
	return f.recorder.PartBegin(p)
}

func (f *failingHandler) PartData(p *Part, d []byte) error {
	if f.at == "data" {
		return f.err
	}
	return f.recorder.PartData(p, d)
}

func (f *failingHandler) PartEnd(p *Part) error {
	if f.at == "end" {
		return f.err
	}
	return f.recorder.PartEnd(p)
}

func TestHandlerErrorsPassThroughAndStick(t *testing.T) {
	body := buildBody(testBoundary, writerPart{name: "a", data: "data"})
	for _, at := range []string{"begin", "data", "end"} {
		t.Run(at, func(t *testing.T) {
			sentinel := errors.New("disk full")
			h := &failingHandler{at: at, err: sentinel}
			p := NewParser(testBoundary, Limits{}, h)
			_, err := p.Feed(body, true)
			require.ErrorIs(t, err, sentinel)
			_, err = p.Feed(body, true)
			require.ErrorIs(t, err, sentinel, "errors are sticky")
			assert.False(t, p.Done())
		})
	}
}

func TestInvalidParserBoundary(t *testing.T) {
	for _, b := range []string{"", "a\r\nb"} {
		_, err := NewParser(b, Limits{}, new(recorder)).Feed([]byte("--\r\n"), true)
		require.ErrorIs(t, err, ErrMalformed)
	}
}

func TestEpilogueAfterDone(t *testing.T) {
	body := buildBody(testBoundary, writerPart{name: "a", data: "x"})
	r := new(recorder)
	p := NewParser(testBoundary, Limits{}, r)
	n, err := p.Feed(body, false)
	require.NoError(t, err)
	require.Equal(t, len(body), n)
	require.True(t, p.Done())
	epilogue := []byte("anything at all\r\n--" + testBoundary + "\r\n")
	n, err = p.Feed(epilogue, true)
	require.NoError(t, err)
	require.Equal(t, len(epilogue), n)
	require.Len(t, r.parts, 1)
}

// TestServerLoop runs the parser the way the server does: a fixed 4 KB
// buffer, the unconsumed tail moved to its front, then a read after it.
func TestServerLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = "\r\n-xab"[rng.IntN(6)] // dense in delimiter look-alikes
	}
	copy(big[1000:], "\r\n--"+testBoundary+"!")
	body := buildBody(testBoundary,
		writerPart{name: "note", data: "hello"},
		writerPart{name: "upload", filename: "big.bin", contentType: "application/octet-stream", data: string(big)},
		writerPart{name: "after", data: strings.Repeat("\r\n--"+testBoundary[:4], 2000)})
	mimeWant, err := mimeParts(body, testBoundary)
	require.NoError(t, err)

	readers := map[string]func(io.Reader) io.Reader{
		"full":     func(r io.Reader) io.Reader { return r },
		"half":     iotest.HalfReader,
		"one byte": iotest.OneByteReader,
		"data err": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			rec := new(recorder)
			p := NewParser(testBoundary, Limits{}, rec)
			src := wrap(bytes.NewReader(body))
			buf := make([]byte, 4096)
			filled := 0
			eof := false
			for !eof {
				n, rerr := src.Read(buf[filled:])
				filled += n
				if rerr == io.EOF {
					eof = true
				} else {
					require.NoError(t, rerr)
				}
				rec.fed = buf[:filled]
				c, err := p.Feed(buf[:filled], eof)
				require.NoError(t, err)
				require.NoError(t, rec.bad)
				require.LessOrEqual(t, filled-c, p.MaxTail(), "unconsumed tail")
				filled = copy(buf, buf[c:filled])
			}
			require.True(t, p.Done())
			require.Equal(t, mimeWant, rec.result())
		})
	}
}

func TestResetReuses(t *testing.T) {
	r := new(recorder)
	p := NewParser("first", Limits{}, r)
	_, err := p.Feed([]byte("garbage"), true)
	require.Error(t, err)
	body := buildBody(testBoundary, writerPart{name: "a", data: "x"})
	for range 3 {
		r = new(recorder)
		p.Reset(testBoundary, Limits{}, r)
		require.False(t, p.Done())
		_, err = p.Feed(body, true)
		require.NoError(t, err)
		require.Equal(t, []gotPart{{Name: "a", Data: "x"}}, r.result())
	}
}

type nopHandler struct{ n int }

func (h *nopHandler) PartBegin(*Part) error            { return nil }
func (h *nopHandler) PartData(_ *Part, d []byte) error { h.n += len(d); return nil }
func (h *nopHandler) PartEnd(*Part) error              { return nil }

func TestSteadyStateFeedDoesNotAllocate(t *testing.T) {
	p := NewParser(testBoundary, Limits{}, new(nopHandler))
	_, err := p.Feed([]byte("--"+testBoundary+"\r\nContent-Disposition: form-data; name=f; filename=f\r\n\r\n"), false)
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte("0123456789abcdef\r\n--xYz"), 2000)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.Feed(chunk, false); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestMaxTail(t *testing.T) {
	p := NewParser("abc", Limits{}, new(nopHandler))
	require.Equal(t, len("\r\n--abc")+2, p.MaxTail())
}

// mimeParts parses body with mime/multipart, the reference.
func mimeParts(body []byte, boundary string) ([]gotPart, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []gotPart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return parts, err
		}
		_, isFile := p.Header["Content-Disposition"]
		isFile = isFile && p.FileName() != ""
		parts = append(parts, gotPart{Name: p.FormName(), FileName: p.FileName(), IsFile: isFile,
			ContentType: p.Header.Get("Content-Type"), Data: string(data)})
	}
}
