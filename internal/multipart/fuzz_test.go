package multipart

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParser checks the parser against itself and against mime/multipart:
//
//   - it never panics, never consumes more than it was given and never
//     leaves more than MaxTail bytes unconsumed (feedChunks checks each Feed);
//   - PartData slices are non-empty sub-slices of the fed buffer;
//   - the result does not depend on how the body is split into Feeds;
//   - it accepts every body mime/multipart accepts, unless its tighter
//     header limits reject it;
//   - for bodies both parsers accept, the parts (name, filename, content
//     type, content bytes) are the same, in order.
func FuzzParser(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, testBoundary, uint16(7))
	}
	f.Add([]byte("--a\r\n\r\n--a--"), "a", uint16(1))
	f.Add([]byte("--a-\n\n--a-\n\n\n--a---\n"), "a-", uint16(2))
	f.Add([]byte("--- \r\n\r\n\r\n---- \r\n\r\n\r\n----"), "-", uint16(3))

	f.Fuzz(func(t *testing.T, body []byte, boundary string, chunk uint16) {
		if !validBoundary(boundary) {
			boundary = testBoundary
		}
		ref, mimeOK := mimeFuzzParts(body, boundary)
		whole, errWhole := parseChunks(body, boundary, Limits{}, len(body)+1)
		if mimeOK && mimeSound(body, boundary, ref) && !errors.Is(errWhole, ErrHeaderTooLarge) {
			// Only the parser's tighter header limits may reject more.
			require.NoError(t, errWhole, "mime/multipart accepts the body")
		}
		split, errSplit := parseChunks(body, boundary, Limits{}, int(chunk)%(len(body)+1)+1)
		require.Equal(t, errClass(errWhole), errClass(errSplit), "whole: %v, split: %v", errWhole, errSplit)
		if len(body) <= 4096 {
			bytewise, errByte := parseChunks(body, boundary, Limits{}, 1)
			require.Equal(t, errClass(errWhole), errClass(errByte), "whole: %v, bytewise: %v", errWhole, errByte)
			if errWhole == nil {
				require.Equal(t, whole, bytewise)
			}
		}
		if errWhole != nil {
			return
		}
		require.Equal(t, whole, split)

		if !mimeOK {
			return // mime/multipart rejects the body; nothing to compare
		}
		require.Len(t, whole, len(ref.parts), "number of parts")
		for i, got := range whole {
			want := ref.parts[i]
			require.Equal(t, want.Data, got.Data, "part %d content", i)
			require.Equal(t, want.ContentType, got.ContentType, "part %d content type", i)
			if !ref.comparable[i] {
				continue
			}
			require.Equal(t, want.Name, got.Name, "part %d name", i)
			name := got.FileName
			if name != "" {
				name = filepath.Base(name) // mime/multipart applies it
			}
			require.Equal(t, want.FileName, name, "part %d filename", i)
		}
	})
}

// mimeSound reports whether mime/multipart accepted body for the right
// reason. It returns io.EOF, the normal end, when the body ends inside a
// part's header block (textproto's EOF passes through NextPart), dropping
// that part without an error; the parser reports ErrUnexpectedEOF. A body
// that really ended at its close delimiter parses the same with an epilogue
// appended; a body cut off in a header gets that header finished and then
// fails in the content.
func mimeSound(body []byte, boundary string, ref mimeResult) bool {
	ext, ok := mimeFuzzParts(append(bytes.Clone(body), "\r\n\r\nX"...), boundary)
	return ok && len(ext.parts) == len(ref.parts)
}

// errClass maps an error to the sentinel it wraps.
func errClass(err error) error {
	for _, s := range []error{ErrUnexpectedEOF, ErrHeaderTooLarge, ErrMalformed, ErrTooManyParts} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

type mimeResult struct {
	parts      []gotPart
	comparable []bool // mime.ParseMediaType accepts the disposition
}

// mimeFuzzParts parses body with mime/multipart. Names are only comparable
// where the disposition is well-formed: on a malformed one mime/multipart
// drops all parameters while the parser may keep the ones it could read,
// and mime leaves ISO-8859-1 extended values undecoded by design.
func mimeFuzzParts(body []byte, boundary string) (res mimeResult, ok bool) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return res, true
		}
		if err != nil {
			return res, false
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return res, false
		}
		disp := p.Header.Get("Content-Disposition")
		_, _, derr := mime.ParseMediaType(disp)
		lower := strings.ToLower(disp)
		res.comparable = append(res.comparable, derr == nil &&
			!strings.Contains(lower, "iso-8859-1") && !strings.Contains(lower, "latin1"))
		res.parts = append(res.parts, gotPart{Name: p.FormName(), FileName: p.FileName(),
			ContentType: p.Header.Get("Content-Type"), Data: string(data)})
	}
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range trickyContents {
		if len(c) > 200 {
			continue
		}
		seeds = append(seeds, buildBody(testBoundary,
			writerPart{name: "a", data: c},
			writerPart{name: "f", filename: "dir/f.txt", contentType: "text/plain", data: c}))
	}
	seeds = append(seeds, buildBody(testBoundary,
		writerPart{header: map[string]string{"Content-Disposition": `form-data; name="f"; filename*=UTF-8''%e2%82%ac.txt`}, data: "x"},
		writerPart{header: map[string]string{"Content-Disposition": `form-data; name*0="a"; name*1*=%41; filename="q\"\\x"`}, data: "y"},
		writerPart{header: map[string]string{"X-Nothing": "at all"}, data: "z"}))
	b := testBoundary
	raw := []string{
		"pre\r\n--" + b + "x\r\n--" + b + " \r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n--" + b + "--\r\nepi",
		"--" + b + "\nContent-Disposition: form-data;\n name=a\n\nA\n--" + b + "\n\n--" + b + "--",
		"--" + b + "\r\nContent-Disposition: form-data; name=a\r\n\r\n--" + b + "--",
		"--" + b + "--\r\n",
	}
	for _, r := range raw {
		seeds = append(seeds, []byte(r))
	}
	return seeds
}

// FuzzDisposition checks parseDisposition against mime.ParseMediaType: on
// every value mime accepts, both must agree on the type being form-data and
// on the name and filename parameters. (The parser may accept values mime
// rejects, such as a conflicting duplicate of a parameter it ignores, and it
// decodes ISO-8859-1 extended values, which mime leaves out.)
func FuzzDisposition(f *testing.F) {
	for _, s := range []string{
		`form-data; name="field"`,
		`form-data; name=field; filename="a \"b\" \\c.txt"`,
		`FORM-DATA ; Name = x ; FileName = "C:\dir\f.txt" ;`,
		`form-data; name="f"; filename="e.txt"; filename*=UTF-8''%e2%82%ac.txt`,
		`form-data; name*=utf-8'en'%41; filename*0="a"; filename*1*=%42; filename*2=c`,
		`form-data; filename*0*=us-ascii''x%20y; filename*1="z"`,
		`attachment; filename*=iso-8859-1''caf%E9`,
		`form-data; name=a; name=a; x=1; x=1`,
		"form-data;\tname=\"tab\u00a0nbsp\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseDisposition(v)
		typ, params, err := mime.ParseMediaType(v)
		lower := strings.ToLower(v)
		if err != nil || strings.Contains(lower, "iso-8859-1") || strings.Contains(lower, "latin1") {
			return
		}
		require.True(t, ok, "mime accepts %q", v)
		require.Equal(t, typ == "form-data", got.formData)
		require.Equal(t, params["name"], got.name)
		require.Equal(t, params["filename"], got.filename)
		_, hasFilename := params["filename"]
		if hasFilename {
			require.True(t, got.isFile)
		}
	})
}
