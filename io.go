package httpev

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
)

// IO does the disk work for received files, so that how chunks reach the
// disk can be chosen (BlockingIO, AsyncIO) and faults injected in tests.
// HTTP::Server::EV had the same seam (IO::Blocking, IO::AIO).
type IO interface {
	// Create makes a new, empty temp file in dir: mode 0600, created with
	// O_EXCL, under an unguessable name.
	Create(dir string) (FileWriter, error)
}

// FileWriter receives one file's chunks in order.
type FileWriter interface {
	// Path is the temp file's path.
	Path() string
	// Write queues chunk for writing and may return before it is on disk;
	// done runs once it is (or failed), in order, and the caller keeps chunk
	// unchanged until then. Write may block to bound the chunks in flight.
	// done must not wait for later Writes or for Close: an upload holds at
	// most two read buffers and waits for done to free one.
	Write(chunk []byte, done func(err error))
	// Close waits for queued chunks and closes the file; it returns the
	// first write error.
	Close() error
}

// createTemp opens a fresh temp file the way IO.Create promises.
func createTemp(dir string) (*os.File, error) {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand never fails on supported platforms
	name := filepath.Join(dir, "httpev-"+hex.EncodeToString(rnd[:]))
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}
