package form

import (
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"
)

// ps builds a pair list from alternating names and values.
func ps(kv ...string) []Pair {
	var out []Pair
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Pair{kv[i], kv[i+1]})
	}
	return out
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name   string
		legacy encoding.Encoding
		in     string
		want   []Pair
	}{
		{"simple", nil, "a=1&b=2", ps("a", "1", "b", "2")},
		{"plus is space", nil, "a+b=c+d", ps("a b", "c d")},
		{"escapes", nil, "a=%41%42c&%62=100%25", ps("a", "ABc", "b", "100%")},
		{"escaped plus and space", nil, "%2B=%20+", ps("+", "  ")},
		{"lower and upper hex", nil, "x=%c3%a9%C3%A9", ps("x", "éé")},
		{"malformed escape kept", nil, "%zz=%4&b=%&c=%%41&d=%4g", ps("%zz", "%4", "b", "%", "c", "%A", "d", "%4g")},
		{"no equals", nil, "a&b=", ps("a", "", "b", "")},
		{"empty name", nil, "=v&=", ps("", "v", "", "")},
		{"empty segments skipped", nil, "&&a=1&&b=2&", ps("a", "1", "b", "2")},
		{"empty input", nil, "", nil},
		{"only separators", nil, "&&&", nil},
		{"order and duplicates", nil, "a=1&b=2&a=3&c=4&a=5", ps("a", "1", "b", "2", "a", "3", "c", "4", "a", "5")},
		{"semicolon is data", nil, "a=1;b=2", ps("a", "1;b=2")},
		{"second equals is data", nil, "a=b=c", ps("a", "b=c")},
		{"raw UTF-8 passthrough", nil, "имя=значение", ps("имя", "значение")},
		{"escaped UTF-8", nil, "x=%D1%82%D0%B5%D0%BA%D1%81%D1%82", ps("x", "текст")},
		{"invalid UTF-8 without legacy", nil, "x=a%FF%FEb&%C0=ok", ps("x", "a\uFFFDb", "\uFFFD", "ok")},
		{"cp1251", charmap.Windows1251, "x=%F2%E5%EA%F1%F2", ps("x", "текст")},
		{"cp1251 name", charmap.Windows1251, "%E8%EC%FF=1", ps("имя", "1")},
		{"cp1251 leaves UTF-8 alone", charmap.Windows1251, "x=%D1%82%D0%B5%D0%BA%D1%81%D1%82", ps("x", "текст")},
		{"cp1251 mixed pairs", charmap.Windows1251, "a=%F2%E5%EA%F1%F2&b=%D1%82&c=plain", ps("a", "текст", "b", "т", "c", "plain")},
		{"koi8-r", charmap.KOI8R, "x=%D4%C5%CB%D3%D4", ps("x", "текст")},
		{"shift_jis (generic decoder path)", japanese.ShiftJIS, "x=%93%FA%96%7B", ps("x", "日本")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{Legacy: tt.legacy}
			got, err := d.ParseQuery(nil, []byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseQueryAppends(t *testing.T) {
	dst := ps("keep", "me")
	got, err := (*Decoder)(nil).ParseQuery(dst, []byte("a=1"))
	require.NoError(t, err)
	assert.Equal(t, ps("keep", "me", "a", "1"), got)
}

func TestLimits(t *testing.T) {
	small := &Decoder{MaxFields: 2, MaxNameLen: 3, MaxValueLen: 3}
	tests := []struct {
		name    string
		d       *Decoder
		in      string
		wantErr error
	}{
		{"fields at limit", small, "a&b", nil},
		{"empty segments do not count", small, "&a&&b&", nil},
		{"fields over limit", small, "a&b&c", ErrTooManyFields},
		{"name at limit", small, "abc=1", nil},
		{"name at limit after decoding", small, "%41%42%43=1", nil},
		{"name over limit", small, "abcd=1", ErrNameTooLong},
		{"name over limit by plus", small, "a+b+c=1", ErrNameTooLong},
		{"value at limit", small, "a=xyz", nil},
		{"value at limit after decoding", small, "a=%41%41%41", nil},
		{"value over limit", small, "a=wxyz", ErrValueTooLong},
		{"value over limit with escapes", small, "a=%41%41%41%41", ErrValueTooLong},
		{"malformed escape counts 1 per byte", small, "a=%4", nil},
		{"default value limit", nil, "a=" + strings.Repeat("v", DefaultMaxValueLen), nil},
		{"default value limit exceeded", nil, "a=" + strings.Repeat("v", DefaultMaxValueLen+1), ErrValueTooLong},
		{"default name limit exceeded", nil, strings.Repeat("n", DefaultMaxNameLen+1), ErrNameTooLong},
		{"default fields limit", nil, strings.Repeat("a&", DefaultMaxFields), nil},
		{"default fields limit exceeded", nil, strings.Repeat("a&", DefaultMaxFields+1), ErrTooManyFields},
		{"negative means unlimited", &Decoder{MaxFields: -1, MaxValueLen: -1},
			strings.Repeat("a&", 2000) + "v=" + strings.Repeat("x", 100_000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := ps("pre", "x")
			got, err := tt.d.ParseQuery(dst, []byte(tt.in))
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, ps("pre", "x"), got, "dst must come back unchanged on error")
		})
	}
}

func TestCookieLimits(t *testing.T) {
	small := &Decoder{MaxFields: 2, MaxNameLen: 3, MaxValueLen: 3}
	tests := []struct {
		in      string
		wantErr error
	}{
		{"a=1; b=2", nil},
		{"a=1; junk; =x; b=2", nil}, // skipped pairs do not count
		{"a=1; b=2; c=3", ErrTooManyFields},
		{"%41%42%43=xyz", nil},
		{" abc =\"xyz\" ", nil}, // trimmed, unquoted
		{"abcd=1", ErrNameTooLong},
		{"a=wxyz", ErrValueTooLong},
		{"a=\"wxyz\"", ErrValueTooLong},
	}
	for _, tt := range tests {
		got, err := small.ParseCookies(nil, []byte(tt.in))
		if tt.wantErr == nil {
			assert.NoError(t, err, tt.in)
			continue
		}
		assert.ErrorIs(t, err, tt.wantErr, tt.in)
		assert.Nil(t, got, tt.in)
	}
}

// A value far over the limit must fail without its size being allocated.
func TestHugeValueFailsFast(t *testing.T) {
	for name, value := range map[string]string{
		"plain":   strings.Repeat("v", 10<<20),
		"escaped": strings.Repeat("%41", 10<<20/3),
		"plus":    strings.Repeat("+", 10<<20),
	} {
		t.Run(name, func(t *testing.T) {
			raw := []byte("a=1&big=" + value + "&c=3")
			d := &Decoder{MaxValueLen: 50 << 10}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := d.ParseQuery(nil, raw)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrValueTooLong)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "bytes allocated")
			assert.Less(t, elapsed, time.Second, "a linear scan, no more")
		})
	}
}

func TestAllocations(t *testing.T) {
	plain := []byte("a=1&b=2&c=3&name=value&x=y&long=abcdefghijklmnop&q=search&p=1&s=2&t=3")
	escaped := []byte("q=%D1%82%D0%B5%D0%BA%D1%81%D1%82+word&x=%41&y=a+b")
	cp1251 := []byte("q=%F2%E5%EA%F1%F2")
	dst := make([]Pair, 0, 16)
	d := &Decoder{Legacy: charmap.Windows1251}
	for name, tc := range map[string]struct {
		raw  []byte
		want float64
	}{
		"no escapes":   {plain, 1},
		"escapes":      {escaped, 1},
		"cp1251 value": {cp1251, 2}, // the shared string, then the converted value
	} {
		allocs := testing.AllocsPerRun(100, func() {
			_, err := d.ParseQuery(dst[:0], tc.raw)
			require.NoError(t, err)
		})
		assert.Equal(t, tc.want, allocs, name)
	}
	plainText, legacyText, empty := []byte("plain value"), []byte{0xF2, 0xE5, 0xEA, 0xF1, 0xF2}, []byte("&&&")
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _ = d.Text(plainText) }))
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _ = d.Text(legacyText) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = d.ParseQuery(dst[:0], empty) }))
	now := time.Unix(0, 0)
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _, _ = FormatSetCookie("sid", "abc def", time.Hour, now) }))
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		in, plus, noPlus string
	}{
		{"", "", ""},
		{"abc", "abc", "abc"},
		{"a+b", "a b", "a+b"},
		{"%41%4a%4A", "AJJ", "AJJ"},
		{"%", "%", "%"},
		{"%4", "%4", "%4"},
		{"%%41", "%A", "%A"},
		{"%4%41", "%4A", "%4A"},
		{"%g1%1g", "%g1%1g", "%g1%1g"},
		{"%00%ff", "\x00\xff", "\x00\xff"},
		{"100%+", "100% ", "100%+"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.plus, string(Unescape(nil, []byte(tt.in), true)), "%q plus", tt.in)
		assert.Equal(t, tt.noPlus, string(Unescape(nil, []byte(tt.in), false)), "%q no plus", tt.in)
		assert.Equal(t, len(tt.plus), decodedLen([]byte(tt.in), 1<<20), "decodedLen(%q)", tt.in)
	}
	assert.Equal(t, "pre:a b", string(Unescape([]byte("pre:"), []byte("a+b"), true)))
}

func TestText(t *testing.T) {
	tests := []struct {
		name   string
		legacy encoding.Encoding
		in     []byte
		want   string
	}{
		{"ASCII", nil, []byte("file.txt"), "file.txt"},
		{"UTF-8", charmap.Windows1251, []byte("файл.txt"), "файл.txt"},
		{"invalid without legacy", nil, []byte("a\xff\xfeb\xc0"), "a\uFFFDb\uFFFD"},
		{"cp1251", charmap.Windows1251, []byte("\xf4\xe0\xe9\xeb.txt"), "файл.txt"},
		{"koi8-r", charmap.KOI8R, []byte("\xc6\xc1\xca\xcc.txt"), "файл.txt"},
		{"nop legacy still yields UTF-8", encoding.Nop, []byte("a\xffb"), "a\uFFFDb"},
		{"UTF-8 as legacy", unicode.UTF8, []byte("a\xffb"), "a\uFFFDb"},
		{"empty", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&Decoder{Legacy: tt.legacy}).Text(tt.in)
			assert.Equal(t, tt.want, got)
			assert.True(t, utf8.ValidString(got))
		})
	}
}

func TestParseCookies(t *testing.T) {
	tests := []struct {
		name   string
		legacy encoding.Encoding
		in     string
		want   []Pair
	}{
		{"browser form", nil, "a=1; b=2", ps("a", "1", "b", "2")},
		{"no space", nil, "a=1;b=2", ps("a", "1", "b", "2")},
		{"spaces and tabs trimmed", nil, "  a = 1 ;\tb=2\t; c= x y ", ps("a", "1", "b", "2", "c", "x y")},
		{"quoted", nil, `a="quoted value"; b=""; c="x`, ps("a", "quoted value", "b", "", "c", `"x`)},
		{"lone quote", nil, `a="`, ps("a", `"`)},
		{"percent escapes", nil, "a=hello%20world%21; %6E=%D0%B6", ps("a", "hello world!", "n", "ж")},
		{"plus is space as in CGI.pm", nil, "a=x+y; b=x%2By", ps("a", "x y", "b", "x+y")},
		{"malformed escape kept", nil, "a=%zz%; b=50%", ps("a", "%zz%", "b", "50%")},
		{"pairs without = skipped", nil, "flag; a=1; ; b", ps("a", "1")},
		{"empty name skipped", nil, "=v; =; a=1", ps("a", "1")},
		{"empty value", nil, "a=; b= ", ps("a", "", "b", "")},
		{"duplicates in order", nil, "a=1; a=2; b=3", ps("a", "1", "a", "2", "b", "3")},
		{"comma is data", nil, "a=1, b=2", ps("a", "1, b=2")},
		{"equals in value", nil, "a=b=c; tok=YWJj==", ps("a", "b=c", "tok", "YWJj==")},
		{"CGI.pm multi-value not split", nil, "a=1&2", ps("a", "1&2")},
		{"empty", nil, "", nil},
		{"only separators", nil, ";; ;", nil},
		{"invalid UTF-8 without legacy", nil, "a=%FF", ps("a", "\uFFFD")},
		{"cp1251", charmap.Windows1251, "a=%F2%E5%EA%F1%F2", ps("a", "текст")},
		{"raw UTF-8", nil, "имя=значение", ps("имя", "значение")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Decoder{Legacy: tt.legacy}).ParseCookies(nil, []byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormatSetCookie(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	moscow := time.FixedZone("MSK", 3*3600)
	tests := []struct {
		name     string
		cname    string
		value    string
		lifetime time.Duration
		now      time.Time
		want     string
	}{
		{"session", "sid", "abc", 0, now, "sid=abc; path=/"},
		{"escaped value", "sid", "a b;c,ж+%", 0, now, "sid=a%20b%3Bc%2C%D0%B6%2B%25; path=/"},
		{"unreserved kept", "sid", "AZaz09-_.~", 0, now, "sid=AZaz09-_.~; path=/"},
		{"empty value", "sid", "", 0, now, "sid=; path=/"},
		{"token name escaped like CGI.pm", "a$b", "v", 0, now, "a%24b=v; path=/"},
		{"persistent", "sid", "v", time.Hour, now,
			"sid=v; path=/; expires=Tue, 02 Jan 2024 04:04:05 GMT; Max-Age=3600"},
		{"persistent from another zone", "sid", "v", time.Hour, now.In(moscow),
			"sid=v; path=/; expires=Tue, 02 Jan 2024 04:04:05 GMT; Max-Age=3600"},
		{"Max-Age rounds up", "sid", "v", 1500 * time.Millisecond, now,
			"sid=v; path=/; expires=Tue, 02 Jan 2024 03:04:06 GMT; Max-Age=2"},
		{"delete", "sid", "", -1, now,
			"sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FormatSetCookie(tt.cname, tt.value, tt.lifetime, tt.now)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("zero now means time.Now", func(t *testing.T) {
		got, err := FormatSetCookie("a", "b", time.Hour, time.Time{})
		require.NoError(t, err)
		assert.Contains(t, got, time.Now().Add(time.Hour).UTC().Format(" 2006 "))
	})

	for _, bad := range []string{"", "a b", "a;b", "a=b", "a,b", `a"b`, "a\tb", "a\x00", "ж", "a\x7f", "(a)", "a/b"} {
		_, err := FormatSetCookie(bad, "v", 0, now)
		require.ErrorIs(t, err, ErrInvalidCookieName, "%q", bad)
		assert.Contains(t, err.Error(), `"`, "error names the cookie")
	}
}

// Whatever FormatSetCookie writes, ParseCookies reads back unchanged.
func TestSetCookieRoundTrip(t *testing.T) {
	for _, v := range []string{"", "plain", "a b+c", "100%", "%41", `"q"`, "x;y, z=1", "текст", "日本", "\x00\x01"} {
		hdr, err := FormatSetCookie("n!#$&'*+-.^_`|~", v, time.Hour, time.Unix(0, 0))
		require.NoError(t, err)
		pair, _, _ := strings.Cut(hdr, ";")
		got, err := (*Decoder)(nil).ParseCookies(nil, []byte("other=1; "+pair))
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, Pair{"n!#$&'*+-.^_`|~", v}, got[1], "%q", v)
	}
}

func TestLookupCharset(t *testing.T) {
	tests := []struct {
		names []string
		want  encoding.Encoding
	}{
		{[]string{"windows-1251", "cp1251", "CP1251", " Windows-1251 ", "x-cp1251", "win1251", "cp-1251", "windows_1251", "WINDOWS1251"}, charmap.Windows1251},
		{[]string{"koi8-r", "KOI8-R", "koi8_r", "koi8r", "koi"}, charmap.KOI8R},
		{[]string{"koi8-u", "koi8u"}, charmap.KOI8U},
		{[]string{"latin1", "iso-8859-1", "latin-1", "cp1252", "win1252"}, charmap.Windows1252},
		{[]string{"iso-8859-5", "iso8859-5", "iso_8859_5", "ISO88595"}, charmap.ISO8859_5},
		{[]string{"cp866", "ibm866", "866"}, charmap.CodePage866},
		{[]string{"cp437", "ibm437"}, charmap.CodePage437},
		{[]string{"latin2"}, charmap.ISO8859_2},
		{[]string{"shift_jis", "sjis"}, japanese.ShiftJIS},
		{[]string{"utf-8", "utf8"}, unicode.UTF8},
	}
	for _, tt := range tests {
		for _, name := range tt.names {
			got, err := LookupCharset(name)
			require.NoError(t, err, name)
			assert.Equal(t, tt.want, got, name)
		}
	}

	for _, name := range []string{"", "  ", "bogus", "iso-2022-kr", "cp99999", "windows-9999", "latin"} {
		enc, err := LookupCharset(name)
		require.ErrorIs(t, err, ErrUnknownCharset, "%q", name)
		assert.Nil(t, enc)
		assert.Contains(t, err.Error(), `"`+name+`"`)
	}
}

// toValues groups pairs the way net/url does, with the fallback rule applied.
func toValues(pairs []Pair) url.Values {
	v := url.Values{}
	for _, p := range pairs {
		v[p.Name] = append(v[p.Name], p.Value)
	}
	return v
}

func urlValid(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		k = strings.ToValidUTF8(k, "\uFFFD")
		for _, s := range vs {
			out[k] = append(out[k], strings.ToValidUTF8(s, "\uFFFD"))
		}
	}
	return out
}

// On valid ASCII input ParseQuery and net/url.ParseQuery agree.
func TestDifferentialNetURL(t *testing.T) {
	fixed := []string{
		"", "a=1", "a=1&b=2&a=3", "a+b=c+d", "%41=%42", "a", "=", "=x", "a=&b", "&&a=1&&",
		"q=go+lang&lang=en&page=2", "x=%20%2B%25%26%3D", "a=b=c", "k=%7E%21%2A",
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "Z", "0", "=", "&", "+", "%20", "%41", "%2B", "%26", "%3D", "%25", "-", "."}
	for range 5000 {
		var b strings.Builder
		for range r.IntN(16) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		fixed = append(fixed, b.String())
	}
	d := &Decoder{MaxFields: -1, MaxNameLen: -1, MaxValueLen: -1}
	for _, in := range fixed {
		want, err := url.ParseQuery(in)
		require.NoError(t, err, in)
		got, err := d.ParseQuery(nil, []byte(in))
		require.NoError(t, err, in)
		assert.Equal(t, want, toValues(got), "%q", in)
	}
}
