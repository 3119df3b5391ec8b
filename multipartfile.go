package httpev

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// MultipartFile is a file received in a request, the Go form of
// HTTP::Server::EV::MultipartFile. Its content is on disk from the moment
// it arrives (Path); it is never held in memory. Unless saved with Save,
// the temp file is removed when the request ends, whatever way it ends.
type MultipartFile struct {
	srv   *Server
	exec  *executor
	name  string
	raw   string
	field string
	ctype string
	size  atomic.Int64
	// pending counts bytes handed to the writer; the connection goroutine's.
	pending int64

	mu      sync.Mutex
	path    string // where the content is now: the temp file, or where Save moved it
	moved   bool   // the temp file was renamed away by Save
	removed bool
}

// Name returns the client's filename made safe to show and to use as a file
// name: path separators and characters such as \ : < > are replaced with
// '_' (a backslash with "__", as HTTP::Server::EV did), NUL and control
// characters removed; "../.\\..:<>utf8_файл" + NUL + ".jpg" becomes
// ".._.__..___utf8_файл.jpg".
func (f *MultipartFile) Name() string { return f.name }

// RawName returns the filename exactly as the client sent it, control bytes
// (NUL included) and path separators too. Never use it as a path.
func (f *MultipartFile) RawName() string { return f.raw }

// FieldName returns the form field the file was sent in.
func (f *MultipartFile) FieldName() string { return f.field }

// ContentType returns the Content-Type the client gave the part, "" if none.
func (f *MultipartFile) ContentType() string { return f.ctype }

// Size returns the bytes on disk so far: while the file arrives it grows
// after each chunk, which is how OnFileWrite callbacks show progress.
func (f *MultipartFile) Size() int64 { return f.size.Load() }

// Path returns where the content is: the temp file, or after Save the
// destination.
func (f *MultipartFile) Path() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.path
}

// Open opens the content for reading.
func (f *MultipartFile) Open() (*os.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed {
		return nil, fmt.Errorf("httpev: open %q: %w", f.name, os.ErrNotExist)
	}
	return os.Open(f.path)
}

// OpenAsync opens the content off the calling goroutine and passes the
// result to done, run like any other callback (on the loop goroutine with
// Threading off), so a loop callback never waits on the disk.
func (f *MultipartFile) OpenAsync(done func(*os.File, error)) {
	go func() {
		file, err := f.Open()
		f.exec.async(func() { done(file, err) })
	}()
}

// Save stores the file at dst. The first Save renames the temp file when dst
// is on the same filesystem, else copies it; a later Save copies from where
// the first one put it. A saved file is no longer removed with the request.
// The destination directory must exist.
func (f *MultipartFile) Save(dst string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed {
		return fmt.Errorf("httpev: save %q: %w", f.name, os.ErrNotExist)
	}
	if !f.moved {
		err := os.Rename(f.path, dst)
		if err == nil {
			f.srv.fileLeaves(f)
			f.path, f.moved = dst, true
			return nil
		}
		if !isCrossDevice(err) {
			return fmt.Errorf("httpev: save: %w", err)
		}
	}
	if err := copyFile(f.path, dst); err != nil {
		return fmt.Errorf("httpev: save: %w", err)
	}
	if !f.moved {
		// Copied across filesystems: the copy is now the file's home.
		_ = os.Remove(f.path)
		f.srv.fileLeaves(f)
		f.path, f.moved = dst, true
	}
	return nil
}

// SaveAsync runs Save off the calling goroutine and reports to done like
// any other callback: moving a 4 GB file across filesystems does not stall
// the loop goroutine (the original's optional callback).
func (f *MultipartFile) SaveAsync(dst string, done func(error)) {
	go func() {
		err := f.Save(dst)
		if done != nil {
			f.exec.async(func() { done(err) })
		}
	}()
}

// Remove deletes the file now (its temp file, or the saved copy).
func (f *MultipartFile) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removeLocked()
}

func (f *MultipartFile) removeLocked() error {
	if f.removed {
		return nil
	}
	f.removed = true
	if !f.moved {
		f.srv.fileLeaves(f)
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("httpev: remove: %w", err)
	}
	return nil
}

// discard removes the temp file at the end of the request unless it was
// saved. The check and the removal hold one lock: a Save running meanwhile
// (SaveAsync) must not have its destination removed.
func (f *MultipartFile) discard() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.moved {
		return
	}
	if err := f.removeLocked(); err != nil {
		f.srv.log.Warn("httpev: temp file not removed", "path", f.path, "err", err)
	}
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	// 0600 like the temp file, so a copy is no more readable than a rename.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err != nil {
		out.Close()
		_ = os.Remove(dst)
		return err
	}
	if err = out.Close(); err != nil {
		_ = os.Remove(dst)
	}
	return err
}
