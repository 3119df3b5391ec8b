package form

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
)

// fuzzDecoders are checked against the reference model on every input: small
// limits so that overflows are common, with and without a legacy charset.
var fuzzDecoders = []*Decoder{
	{MaxFields: 4, MaxNameLen: 8, MaxValueLen: 16, Legacy: charmap.Windows1251},
	{MaxFields: 4, MaxNameLen: 8, MaxValueLen: 16},
	nil,
}

var unlimited = &Decoder{MaxFields: -1, MaxNameLen: -1, MaxValueLen: -1}

var fuzzSeeds = []string{
	"", "a=1&b=2", "a+b=c+d", "%41=%zz&%=%4", "=&&=x", "x=%F2%E5%EA%F1%F2", "a;b=c",
	"a=1; b=2", ` a = "q v" ;flag;=x`, "s=%D1%82+%2B", "k=\xff\xfe", strings.Repeat("a=1&", 8),
	"a=" + strings.Repeat("%41", 20), strings.Repeat("n", 9) + "=v",
}

// refPair is a raw pair found by the reference splitter.
type refPair struct{ name, value string }

// refQuery and refCookies restate the documented syntax with the strings
// package, as an oracle that shares no code with the parser.
func refQuery(raw string) []refPair {
	var out []refPair
	for _, seg := range strings.Split(raw, "&") {
		if seg == "" {
			continue
		}
		name, value, _ := strings.Cut(seg, "=")
		out = append(out, refPair{name, value})
	}
	return out
}

func refCookies(raw string) []refPair {
	var out []refPair
	for _, seg := range strings.Split(raw, ";") {
		name, value, ok := strings.Cut(seg, "=")
		name, value = strings.Trim(name, " \t"), strings.Trim(value, " \t")
		if !ok || name == "" {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		out = append(out, refPair{name, value})
	}
	return out
}

// refUnescape decodes s a byte at a time, the slow way.
func refUnescape(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '+':
			out = append(out, ' ')
		case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhexTab[s[i+1]]<<4|unhexTab[s[i+2]])
			i += 2
		default:
			out = append(out, s[i])
		}
	}
	return out
}

func isHex(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

// checkAgainstRef runs one parse and compares it with the reference model:
// the same pairs, or the same first limit violation with dst untouched.
func checkAgainstRef(t *testing.T, d *Decoder, raw []byte, ref []refPair, parse func(*Decoder, []Pair, []byte) ([]Pair, error)) {
	lim := d.limits()
	var want []Pair
	var wantErr error
	for i, p := range ref {
		name, value := refUnescape(p.name), refUnescape(p.value)
		switch {
		case i >= lim.fields:
			wantErr = ErrTooManyFields
		case len(name) > lim.name:
			wantErr = ErrNameTooLong
		case len(value) > lim.value:
			wantErr = ErrValueTooLong
		}
		if wantErr != nil {
			want = nil
			break
		}
		want = append(want, Pair{d.Text(name), d.Text(value)})
	}

	got, err := parse(d, nil, raw)
	if wantErr != nil {
		require.ErrorIs(t, err, wantErr)
		require.Nil(t, got)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.LessOrEqual(t, len(got), lim.fields)
	for _, p := range got {
		require.True(t, utf8.ValidString(p.Name) && utf8.ValidString(p.Value), "%q", p)
		require.LessOrEqual(t, utf8.RuneCountInString(p.Name), lim.name)
		require.LessOrEqual(t, utf8.RuneCountInString(p.Value), lim.value)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ref := refQuery(string(raw))
		for _, d := range fuzzDecoders {
			checkAgainstRef(t, d, raw, ref, (*Decoder).ParseQuery)
			// The server's early check agrees with decoding.
			_, perr := d.ParseQuery(nil, raw)
			if cerr := d.CheckQuery(raw); (cerr == nil) != (perr == nil) {
				t.Fatalf("CheckQuery %v, ParseQuery %v for %q", cerr, perr, raw)
			}
		}

		// Where net/url accepts the input, both agree. Keys that are not
		// UTF-8 are left out: U+FFFD replacement can merge two of them into
		// one key, and net/url's map loses their relative order.
		if strings.Contains(string(raw), ";") {
			return
		}
		want, err := url.ParseQuery(string(raw))
		if err != nil {
			return
		}
		for k := range want {
			if !utf8.ValidString(k) {
				return
			}
		}
		got, err := unlimited.ParseQuery(nil, raw)
		require.NoError(t, err)
		require.Equal(t, urlValid(want), toValues(got))
	})
}

func FuzzParseCookies(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ref := refCookies(string(raw))
		for _, d := range fuzzDecoders {
			checkAgainstRef(t, d, raw, ref, (*Decoder).ParseCookies)
		}

		// Every cookie net/http reads that needs no decoding is read by us
		// too, in the same order. net/http trims more kinds of whitespace,
		// keeps pairs without '=', and keeps spaces after '=', so inputs and
		// cookies where those differences show are left out.
		if strings.ContainsAny(string(raw), "\r\n\v\f") {
			return
		}
		std := (&http.Request{Header: http.Header{"Cookie": {string(raw)}}}).Cookies()
		got, err := unlimited.ParseCookies(nil, raw)
		require.NoError(t, err)
		i := 0
		for _, c := range std {
			if c.Value == "" || strings.ContainsAny(c.Name+c.Value, "%+") ||
				strings.Trim(c.Value, " \t") != c.Value || !utf8.ValidString(c.Name+c.Value) {
				continue
			}
			for i < len(got) && got[i] != (Pair{c.Name, c.Value}) {
				i++
			}
			require.Less(t, i, len(got), "net/http cookie %q=%q missing from %q", c.Name, c.Value, got)
			i++
		}
	})
}

// Unescape on its own must match the reference and never panic.
func FuzzUnescape(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := refUnescape(string(raw))
		require.Equal(t, string(want), string(Unescape(nil, raw, true)))
		require.Equal(t, len(want), decodedLen(raw, len(raw)))
		if len(want) > 0 {
			require.Greater(t, decodedLen(raw, len(want)-1), len(want)-1)
		}
	})
}
