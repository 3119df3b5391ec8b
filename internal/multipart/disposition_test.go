package multipart

import (
	"mime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDisposition(t *testing.T) {
	tests := []struct {
		in   string
		want disposition
		ok   bool
	}{
		{`form-data; name="field"`, disposition{formData: true, name: "field"}, true},
		{`form-data; name=field`, disposition{formData: true, name: "field"}, true},
		{`Form-Data ;NAME = "a b" ; FILENAME= "c d.txt" `, disposition{formData: true, name: "a b", filename: "c d.txt", isFile: true}, true},
		{`form-data; name="a"; filename=""`, disposition{formData: true, name: "a", isFile: true}, true},
		{`form-data; name="q\"uo\\te"; filename="a\"b"`, disposition{formData: true, name: `q"uo\te`, filename: `a"b`, isFile: true}, true},
		{`form-data; name="f"; filename="C:\dir\file.txt"`, disposition{formData: true, name: "f", filename: `C:\dir\file.txt`, isFile: true}, true},
		{`form-data; name="f"; filename="euro.txt"; filename*=UTF-8''%e2%82%ac.txt`, disposition{formData: true, name: "f", filename: "€.txt", isFile: true}, true},
		{`form-data; name="f"; filename*=utf-8'en'%E2%82%AC%20rates.txt`, disposition{formData: true, name: "f", filename: "€ rates.txt", isFile: true}, true},
		{`form-data; name="f"; filename*=iso-8859-1''caf%E9.txt`, disposition{formData: true, name: "f", filename: "café.txt", isFile: true}, true},
		{`form-data; name="f"; filename="plain.txt"; filename*=koi8-r''%C1`, disposition{formData: true, name: "f", filename: "plain.txt", isFile: true}, true},
		{`form-data; name="f"; filename="plain.txt"; filename*=UTF-8''%zz`, disposition{formData: true, name: "f", filename: "plain.txt", isFile: true}, true},
		{`form-data; name*=UTF-8''%D0%B8%D0%BC%D1%8F`, disposition{formData: true, name: "имя"}, true},
		{`form-data; name="f"; filename*0="long"; filename*1="-name"; filename*2*=%2Etxt`, disposition{formData: true, name: "f", filename: "long-name.txt", isFile: true}, true},
		{`form-data; name="f"; filename*0*=UTF-8''%e2%82%ac; filename*1=".txt"`, disposition{formData: true, name: "f", filename: "€.txt", isFile: true}, true},
		{`form-data; name="f"; filename*1="orphan"`, disposition{formData: true, name: "f", isFile: true}, true},
		{`form-data; name=a;`, disposition{formData: true, name: "a"}, true},
		{`form-data; name=a; name=a`, disposition{formData: true, name: "a"}, true},
		{`attachment; filename=x.bin`, disposition{filename: "x.bin", isFile: true}, true},
		{`form-data`, disposition{formData: true}, true},
		{`form-data; name=a; name=b`, disposition{}, false},
		{`form-data; filename*0=a; filename*0=b`, disposition{}, false},
		{`form-data; name=a b`, disposition{}, false},
		{`form-data; name="unterminated`, disposition{}, false},
		{`form-data; name=`, disposition{}, false},
		{`form-data; =x`, disposition{}, false},
		{`; name=a`, disposition{}, false},
		{`form data; name=a`, disposition{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseDisposition(tt.in)
			require.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.want, got)
			}
			// Agree with mime.ParseMediaType wherever it accepts the value
			// (it leaves ISO-8859-1 undecoded by design).
			typ, params, err := mime.ParseMediaType(tt.in)
			if err == nil && !strings.Contains(strings.ToLower(tt.in), "iso-8859-1") {
				require.True(t, ok)
				assert.Equal(t, typ == "form-data", got.formData)
				assert.Equal(t, params["name"], got.name)
				assert.Equal(t, params["filename"], got.filename)
			}
		})
	}
}

func TestParseDispositionManyPieces(t *testing.T) {
	var b strings.Builder
	b.WriteString("form-data; name=x")
	for i := 2999; i >= 0; i-- { // reverse order: sorting must put them right
		b.WriteString("; filename*" + itoa(i) + "=a")
	}
	d, ok := parseDisposition(b.String())
	require.True(t, ok)
	require.Equal(t, strings.Repeat("a", 3000), d.filename)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestByteClasses(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		special := strings.IndexByte(`()<>@,;:\"/[]?=`, b) >= 0
		assert.Equal(t, special, isTSpecial(b), "tspecial %q", b)
		assert.Equal(t, b > ' ' && b < 0x7f && !special, isTokenChar(b), "token %q", b)
		tchar := 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
		assert.Equal(t, tchar || b == ' ', isLaxFieldNameChar(b), "field name %q", b)
	}
}
