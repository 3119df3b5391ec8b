package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/httpev/httpev"
)

// fileInfo is one saved file as /files lists it.
type fileInfo struct {
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"` // "" for files this app did not save, whose hash was never seen
	Time   time.Time `json:"time"`
	URL    string    `json:"url"`

	saved time.Time // when this process saved it (zero if found on disk)
}

// store is the upload directory and the catalog of its files. The catalog
// is what listing and serving go by, so nothing outside it (the temp
// directory, dotfiles, symlinks) can be downloaded or deleted. Other
// processes may write the directory too (the workers of -procs, instances
// behind a proxy sharing it), so the catalog is refreshed from the
// directory, off the loop goroutine, before a list and when a name is not
// in it; each saved file's SHA-256 is kept beside it in sumDirName, where
// the other processes, and this one after a restart, find it.
type store struct {
	dir  string
	root *os.Root // opens and removes stay inside dir, whatever a name holds

	mu    sync.Mutex
	files map[string]fileInfo
}

// sumDirName holds one small file per saved file, its SHA-256 in hex. The
// leading dot keeps it out of the list and out of reach of downloads.
const sumDirName = ".sha256"

// openStore creates dir if needed and catalogs the regular files already
// in it (with their SHA-256 when this app saved them).
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, sumDirName), 0o755); err != nil {
		return nil, fmt.Errorf("upload directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("upload directory: %w", err)
	}
	s := &store{dir: dir, root: root, files: map[string]fileInfo{}}
	if err := s.refresh(); err != nil {
		root.Close()
		return nil, fmt.Errorf("upload directory: %w", err)
	}
	return s, nil
}

// refresh makes the catalog what the directory holds. It reads the disk,
// so it runs off the loop goroutine. An entry keeps its known hash while
// its size is unchanged; entries this process saved while the directory
// was being read are kept as saved.
func (s *store) refresh() error {
	start := time.Now()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	fresh := make(map[string]fileInfo, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() || validName(e.Name()) != nil {
			continue
		}
		if st, err := e.Info(); err == nil {
			fresh[e.Name()] = newInfo(e.Name(), st.Size(), "", st.ModTime())
		}
	}
	var unknown []string
	s.mu.Lock()
	for name, f := range fresh {
		if cur, ok := s.files[name]; ok && cur.SHA256 != "" && cur.Size == f.Size {
			fresh[name] = cur
		} else {
			unknown = append(unknown, name)
		}
	}
	for name, f := range s.files {
		if f.saved.After(start) {
			fresh[name] = f
		}
	}
	s.files = fresh
	s.mu.Unlock()
	for _, name := range unknown {
		sum, err := s.root.ReadFile(filepath.Join(sumDirName, name))
		if err != nil || len(sum) != 64 {
			continue // not saved by this app, or its hash not written yet
		}
		s.mu.Lock()
		if f, ok := s.files[name]; ok && f.SHA256 == "" {
			f.SHA256 = string(sum)
			s.files[name] = f
		}
		s.mu.Unlock()
	}
	return nil
}

// lookup is get, refreshing the catalog first when name is not in it (a
// file another process saved). It reads the disk on a miss, so it runs off
// the loop goroutine.
func (s *store) lookup(name string) (fileInfo, bool) {
	if f, ok := s.get(name); ok {
		return f, true
	}
	if err := s.refresh(); err != nil {
		return fileInfo{}, false
	}
	return s.get(name)
}

// newInfo fills in what follows from the name: the URL, escaped so any
// name the library accepts makes a working link.
func newInfo(name string, size int64, sum string, t time.Time) fileInfo {
	return fileInfo{Name: name, Size: size, SHA256: sum, Time: t.UTC().Round(time.Millisecond),
		URL: "/files/" + url.PathEscape(name)}
}

// list returns the catalog, newest first.
func (s *store) list() []fileInfo {
	s.mu.Lock()
	out := make([]fileInfo, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b fileInfo) int {
		return cmp.Or(b.Time.Compare(a.Time), strings.Compare(a.Name, b.Name))
	})
	return out
}

// get is the catalog lookup that guards every download and delete.
func (s *store) get(name string) (fileInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[name]
	return f, ok
}

// save moves a received file into the directory under a free name based on
// f.Name() (the library's sanitized name; the raw one is never used). The
// name is claimed by creating an empty file with O_EXCL, which Save then
// renames over: two uploads of a.txt, even from two processes sharing the
// directory, end up as a.txt and a (1).txt instead of one replacing the
// other. It blocks on the disk, so it runs off the loop.
func (s *store) save(f *httpev.MultipartFile, sum string) (fileInfo, error) {
	name, err := s.claim(f.Name())
	if err != nil {
		return fileInfo{}, err
	}
	if err := f.Save(filepath.Join(s.dir, name)); err != nil {
		_ = s.root.Remove(name)
		return fileInfo{}, err
	}
	info := newInfo(name, f.Size(), sum, time.Now())
	info.saved = time.Now()
	if sum != "" {
		// Best effort: without it the hash is only unknown to the others.
		_ = s.root.WriteFile(filepath.Join(sumDirName, name), []byte(sum), 0o644)
	}
	s.mu.Lock()
	s.files[name] = info
	s.mu.Unlock()
	return info, nil
}

// claim reserves the first free name of base, "base (1).ext", ... on disk.
func (s *store) claim(base string) (string, error) {
	base = storableName(base)
	for n := 0; n < 10000; n++ {
		name := numbered(base, n)
		fh, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return name, fh.Close()
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %q", base)
}

// remove deletes a cataloged file; a name outside the catalog is
// ErrNotExist even if such a file is on disk.
func (s *store) remove(name string) error {
	if _, ok := s.lookup(name); !ok {
		return fs.ErrNotExist
	}
	if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = s.root.Remove(filepath.Join(sumDirName, name))
	s.mu.Lock()
	delete(s.files, name)
	s.mu.Unlock()
	return nil
}

// numbered returns name for n == 0 and "stem (n).ext" after, keeping a
// double extension such as .tar.gz whole, the way browsers number
// downloads.
func numbered(name string, n int) string {
	if n == 0 {
		return name
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if inner := filepath.Ext(stem); strings.EqualFold(inner, ".tar") {
		ext = inner + ext
		stem = strings.TrimSuffix(stem, inner)
	}
	return fmt.Sprintf("%s (%d)%s", stem, n, ext)
}

// maxNameBytes leaves room for " (9999)" within the usual 255-byte limit.
const maxNameBytes = 240

// storableName makes the library's display-safe name safe as a directory
// entry of ours: not empty, not hidden (which would also reach the temp
// directory), not too long for the filesystem.
func storableName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_' // the library already replaced these; a second guard costs nothing
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if name == "" {
		name = "upload"
	}
	if len(name) > maxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := name[:maxNameBytes-len(ext)]
		for !utf8.ValidString(stem) { // do not cut a character in half
			stem = stem[:len(stem)-1]
		}
		name = stem + ext
	}
	return name
}

// validName accepts a name from a URL only if it could be one of ours: a
// single path element, not hidden. It is the first of three guards, with
// the catalog lookup and os.Root.
func validName(name string) error {
	switch {
	case name == "", strings.HasPrefix(name, "."), !utf8.ValidString(name),
		strings.ContainsAny(name, "/\\\x00"):
		return errors.New("bad file name")
	}
	return nil
}

// nameFromPath extracts and checks the name in /files/<name>.
func nameFromPath(c *httpev.CGI) (string, error) {
	raw := strings.TrimPrefix(c.Path(), "/files/")
	name, err := url.PathUnescape(raw)
	if err != nil {
		return "", err
	}
	return name, validName(name)
}

// list answers GET /files, with what the directory holds now.
func (a *app) list(c *httpev.CGI) {
	a.offLoop(c, func() {
		if err := a.store.refresh(); err != nil {
			a.log.Error("reading the upload directory", "err", err)
		}
		writeJSON(c, http.StatusOK, map[string]any{"files": a.store.list()})
	})
}

// upload answers POST /files: the body has already been received, files
// on disk and hashed, before this callback runs; what is left is moving
// them into place, which offLoop keeps off the loop goroutine.
func (a *app) upload(c *httpev.CGI) {
	files := c.Files()
	if len(files) == 0 {
		writeError(c, http.StatusBadRequest, "send multipart/form-data with at least one file field")
		return
	}
	sums := a.recv.sums(c)
	a.offLoop(c, func() {
		saved := make([]fileInfo, 0, len(files))
		for _, f := range files {
			info, err := a.store.save(f, sums[f])
			if err != nil {
				a.log.Error("saving upload", "name", f.Name(), "err", err)
				writeError(c, http.StatusInternalServerError, "saving "+f.Name()+" failed")
				a.hub.filesChanged()
				return // the files not saved yet are removed by the library
			}
			a.log.Info("received", "name", info.Name, "size", info.Size, "sha256", info.SHA256,
				"from", c.Env("REMOTE_ADDR"))
			saved = append(saved, info)
		}
		a.hub.filesChanged()
		writeJSON(c, http.StatusOK, map[string]any{"files": saved})
	})
}

// remove answers DELETE /files/<name> with 204.
func (a *app) remove(c *httpev.CGI) {
	name, err := nameFromPath(c)
	if err != nil {
		writeError(c, http.StatusBadRequest, "bad file name")
		return
	}
	a.offLoop(c, func() {
		switch err := a.store.remove(name); {
		case errors.Is(err, fs.ErrNotExist):
			writeError(c, http.StatusNotFound, "no such file")
		case err != nil:
			a.log.Error("deleting", "name", name, "err", err)
			writeError(c, http.StatusInternalServerError, "delete failed")
		default:
			a.log.Info("deleted", "name", name)
			a.hub.filesChanged()
			c.SetStatus(http.StatusNoContent)
		}
	})
}

// download answers GET and HEAD /files/<name>, streaming the file from
// disk.
func (a *app) download(c *httpev.CGI) {
	name, err := nameFromPath(c)
	if err != nil {
		writeError(c, http.StatusBadRequest, "bad file name")
		return
	}
	a.offLoop(c, func() {
		if _, ok := a.store.lookup(name); !ok {
			writeError(c, http.StatusNotFound, "no such file")
			return
		}
		a.sendFile(c, name)
	})
}

// sendChunk is how much of a download is read per step; two steps are
// buffered at most (one on the socket, one queued), well under the
// library's 4 MB high-water mark.
const sendChunk = 256 << 10

// sendFile streams a file with a Content-Length, so the library sends it
// as is (no chunked framing), and paces reads with FlushWait, so a slow
// client holds the disk reads back instead of filling memory.
func (a *app) sendFile(c *httpev.CGI, name string) {
	fh, err := a.store.root.Open(name)
	if err != nil {
		writeError(c, http.StatusNotFound, "no such file")
		return
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(c, http.StatusNotFound, "no such file")
		return
	}
	c.Header(http.Header{
		"Content-Type":           {contentType(name)},
		"Content-Length":         {strconv.FormatInt(st.Size(), 10)},
		"Content-Disposition":    {disposition(name)},
		"X-Content-Type-Options": {"nosniff"},
		"Cache-Control":          {"no-cache"},
		"Last-Modified":          {st.ModTime().UTC().Format(http.TimeFormat)},
	})
	if c.Method() == "HEAD" {
		return
	}
	ctx := c.Context()
	buf := make([]byte, sendChunk)
	var prev <-chan error // the previous chunk's flush
	for {
		n, rerr := fh.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
			next := startFlush(c)
			if prev != nil && awaitFlush(ctx, prev) != nil {
				return
			}
			prev = next
		}
		if rerr == io.EOF {
			return // offLoop closes the response
		}
		if rerr != nil {
			a.log.Error("reading for download", "name", name, "err", rerr)
			c.Drop() // the length was promised; cutting is the only honest answer
			return
		}
	}
}

// contentType names a download's type from its extension. Content is not
// sniffed: it is the uploader's, and with Content-Disposition: attachment
// and nosniff the browser saves it rather than rendering it on our origin.
func contentType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// disposition makes the browser save a download under its name, including
// non-ASCII names (RFC 2231 encoding, which FormatMediaType picks itself).
func disposition(name string) string {
	if d := mime.FormatMediaType("attachment", map[string]string{"filename": name}); d != "" {
		return d
	}
	return "attachment"
}
