// Command upload-progress receives files with a live progress display.
// The page posts the form to an iframe and polls /progress, which reads
// counters that OnFileWrite updates as each chunk reaches the disk: the
// server's own view of the upload, not the browser's.
//
// Every callback runs on the server's single loop goroutine (Threading
// off, the default), so the progress map needs no lock.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

const page = `<!doctype html>
<title>httpev upload progress</title>
<form method="post" enctype="multipart/form-data" target="result">
  <input type="file" name="file" multiple> <button>Upload</button>
</form>
<p id="progress"></p>
<iframe name="result" style="border:0;width:100%%"></iframe>
<script>
const form = document.forms[0], out = document.getElementById('progress');
form.onsubmit = () => {
  const id = Math.random().toString(36).slice(2);
  form.action = '/upload?id=' + id;
  const poll = setInterval(async () => {
    const p = await (await fetch('/progress?id=' + id)).json();
    out.textContent = p.file ? p.file + ': ' + p.received + ' of about ' + p.total + ' bytes' : '';
    if (p.done) { clearInterval(poll); out.textContent = 'done'; }
  }, 200);
};
</script>
`

// progress is what the page polls for one upload.
type progress struct {
	File     string `json:"file"`
	Received int64  `json:"received"`
	Total    int64  `json:"total"` // the request's length: the files plus a little form overhead
	Done     bool   `json:"done"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "uploads", "where received files are saved")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	srv, err := httpev.New(httpev.Options{TmpPath: filepath.Join(*dir, ".tmp"), CleanupOnDestroy: true})
	if err != nil {
		log.Fatal(err)
	}

	uploads := map[string]*progress{} // by upload id; touched only on the loop goroutine
	opts := httpev.ListenOptions{
		OnMultipart: func(c *httpev.CGI) {
			total, _ := strconv.ParseInt(c.Env("CONTENT_LENGTH"), 10, 64)
			uploads[c.Param("id")] = &progress{Total: total}
		},
		OnFileWrite: func(c *httpev.CGI, f *httpev.MultipartFile, chunk []byte) {
			if p := uploads[c.Param("id")]; p != nil {
				p.File = f.Name()
				p.Received += int64(len(chunk))
			}
		},
		OnError: func(c *httpev.CGI) {
			log.Printf("upload %s failed: %v", c.Param("id"), c.Err())
			delete(uploads, c.Param("id"))
		},
	}
	l, err := srv.Listen(*addr, func(c *httpev.CGI) {
		switch c.Path() {
		case "/progress":
			p := uploads[c.Param("id")]
			if p == nil {
				p = &progress{}
			}
			c.Header(http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}})
			_ = json.NewEncoder(c).Encode(p)
			if p.Done {
				delete(uploads, c.Param("id"))
			}
		case "/upload":
			receive(c, *dir, uploads)
		default:
			c.Printf(page)
		}
	}, opts)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s/, saving to %s", l.Addr(), *dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, time.Minute); err != nil { // let uploads finish; Close then empties the temp directory
		log.Print(err)
	}
}

// receive saves the files of a finished upload. The callback runs once the
// whole body is on disk. Save would block the loop goroutine while a file is
// copied across filesystems, so the request is kept open and answered when
// the last SaveAsync reports back.
func receive(c *httpev.CGI, dir string, uploads map[string]*progress) {
	id := c.Param("id")
	files := c.File("file")
	if len(files) == 0 {
		c.Print("no file received\n")
		delete(uploads, id)
		return
	}
	c.Keep()
	c.Header(nil)
	pending := len(files)
	for _, f := range files {
		dst := filepath.Join(dir, fmt.Sprintf("%d-%s", time.Now().UnixNano(), f.Name()))
		f.SaveAsync(dst, func(err error) { // runs on the loop goroutine, like every callback
			if err != nil {
				c.Printf("<p>%s: %s</p>\n", html.EscapeString(f.Name()), html.EscapeString(err.Error()))
			} else {
				c.Printf("<p>%s: %d bytes saved as %s</p>\n", html.EscapeString(f.Name()), f.Size(), html.EscapeString(dst))
			}
			if pending--; pending == 0 {
				if p := uploads[id]; p != nil {
					p.Done = true // /progress forgets the upload once it has said so
				}
				c.Close()
			}
		})
	}
}
