package multipart_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"strings"

	mp "github.com/httpev/httpev/internal/multipart"
)

// printer is a Handler that prints what it receives.
type printer struct{}

func (printer) PartBegin(p *mp.Part) error {
	fmt.Printf("begin %q file=%v filename=%q type=%q\n", p.Name, p.IsFile, p.FileName, p.ContentType)
	return nil
}

func (printer) PartData(p *mp.Part, data []byte) error {
	fmt.Printf("  data %q\n", data)
	return nil
}

func (printer) PartEnd(p *mp.Part) error {
	fmt.Printf("end %q\n", p.Name)
	return nil
}

func Example() {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("title", "holiday")
	fw, _ := w.CreateFormFile("photo", "beach.jpg")
	fw.Write([]byte("JPEG bytes"))
	w.Close()

	boundary, err := mp.Boundary(w.FormDataContentType())
	if err != nil {
		panic(err)
	}
	p := mp.NewParser(boundary, mp.Limits{}, printer{})
	if _, err := p.Feed(body.Bytes(), true); err != nil {
		panic(err)
	}
	fmt.Println("done:", p.Done())
	// Output:
	// begin "title" file=false filename="" type=""
	//   data "holiday"
	// end "title"
	// begin "photo" file=true filename="beach.jpg" type="application/octet-stream"
	//   data "JPEG bytes"
	// end "photo"
	// done: true
}

// The server loop: read into a fixed buffer, Feed it, move the unconsumed
// tail to the front and read more after it.
func ExampleParser_Feed() {
	body := "--b\r\nContent-Disposition: form-data; name=\"msg\"\r\n\r\nhello\r\n--b--\r\n"
	var src io.Reader = strings.NewReader(body)

	p := mp.NewParser("b", mp.Limits{}, printer{})
	buf := make([]byte, 16) // tiny to show the tail handling; servers use KBs
	filled := 0
	for eof := false; !eof; {
		n, err := src.Read(buf[filled:])
		filled += n
		eof = err == io.EOF
		consumed, err := p.Feed(buf[:filled], eof)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		filled = copy(buf, buf[consumed:filled])
	}
	fmt.Println("done:", p.Done())
	// Output:
	// begin "msg" file=false filename="" type=""
	//   data "hello"
	// end "msg"
	// done: true
}

func ExampleBoundary() {
	b, err := mp.Boundary(`multipart/form-data; boundary="----WebKitFormBoundary7MA4YWxkTrZu0gW"`)
	fmt.Println(b, err)
	_, err = mp.Boundary("application/json")
	fmt.Println(err)
	// Output:
	// ----WebKitFormBoundary7MA4YWxkTrZu0gW <nil>
	// multipart: content type is not multipart/form-data: "application/json"
}

func ExampleSafeFileName() {
	fmt.Println(mp.SafeFileName("../../etc/passwd"))
	fmt.Println(mp.SafeFileName("отчёт: 2024?.pdf"))
	// Output:
	// .._.._etc_passwd
	// отчёт_ 2024_.pdf
}
