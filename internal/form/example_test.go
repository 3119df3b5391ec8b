package form_test

import (
	"fmt"
	"time"

	"github.com/httpev/httpev/internal/form"
)

func ExampleDecoder_ParseQuery() {
	cp1251, _ := form.LookupCharset("cp1251")
	d := &form.Decoder{Legacy: cp1251}
	// A UTF-8 page and an old cp1251 page submitting the same word, and a
	// stray '%' kept as typed.
	pairs, err := d.ParseQuery(nil, []byte("q=%D1%82%D0%B5%D0%BA%D1%81%D1%82&q=%F2%E5%EA%F1%F2&discount=50%&x"))
	if err != nil {
		panic(err)
	}
	for _, p := range pairs {
		fmt.Printf("%s=%q\n", p.Name, p.Value)
	}
	// Output:
	// q="текст"
	// q="текст"
	// discount="50%"
	// x=""
}

func ExampleDecoder_ParseQuery_limits() {
	d := &form.Decoder{MaxValueLen: 8}
	_, err := d.ParseQuery(nil, []byte("name=far+too+long"))
	fmt.Println(err)
	// Output: form: field value too long: more than 8 bytes
}

func ExampleDecoder_ParseCookies() {
	var d form.Decoder // zero value: default limits, no legacy charset
	pairs, _ := d.ParseCookies(nil, []byte(`sid=abc123; greeting=hello%2C%20world; quoted="x y"; flag`))
	for _, p := range pairs {
		fmt.Printf("%s=%q\n", p.Name, p.Value)
	}
	// Output:
	// sid="abc123"
	// greeting="hello, world"
	// quoted="x y"
}

func ExampleDecoder_Text() {
	koi8, _ := form.LookupCharset("koi8-r")
	d := &form.Decoder{Legacy: koi8}
	fmt.Println(d.Text([]byte("\xc6\xc1\xca\xcc.txt"))) // a KOI8-R filename
	fmt.Println(d.Text([]byte("файл.txt")))             // UTF-8 is kept
	// Output:
	// файл.txt
	// файл.txt
}

func ExampleFormatSetCookie() {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, lifetime := range []time.Duration{0, 24 * time.Hour, -1} {
		v, _ := form.FormatSetCookie("name", "Иван Петров", lifetime, now)
		fmt.Println(v)
	}
	// Output:
	// name=%D0%98%D0%B2%D0%B0%D0%BD%20%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2; path=/
	// name=%D0%98%D0%B2%D0%B0%D0%BD%20%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2; path=/; expires=Wed, 03 Jan 2024 03:04:05 GMT; Max-Age=86400
	// name=%D0%98%D0%B2%D0%B0%D0%BD%20%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0
}

func ExampleLookupCharset() {
	for _, name := range []string{"cp1251", "KOI8-R", "latin1", "win1251", "ebcdic-klingon"} {
		enc, err := form.LookupCharset(name)
		fmt.Println(enc, err)
	}
	// Output:
	// Windows 1251 <nil>
	// KOI8-R <nil>
	// Windows 1252 <nil>
	// Windows 1251 <nil>
	// <nil> form: unknown charset: "ebcdic-klingon"
}
