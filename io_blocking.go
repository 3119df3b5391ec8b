package httpev

import "os"

// BlockingIO writes each chunk inline, in the connection goroutine that
// read it: the simplest backend, and the fastest when the disk keeps up
// (page cache, tmpfs). A slow disk stalls that connection's reads, which
// backs up into the client's TCP window; other connections are unaffected.
type BlockingIO struct{}

// Create implements IO.
func (BlockingIO) Create(dir string) (FileWriter, error) {
	f, err := createTemp(dir)
	if err != nil {
		return nil, err
	}
	return &blockingFile{f: f}, nil
}

type blockingFile struct {
	f   *os.File
	err error
}

func (b *blockingFile) Path() string { return b.f.Name() }

func (b *blockingFile) Write(chunk []byte, done func(error)) {
	if b.err == nil {
		_, b.err = b.f.Write(chunk)
	}
	done(b.err)
}

func (b *blockingFile) Close() error {
	if err := b.f.Close(); err != nil && b.err == nil {
		b.err = err
	}
	return b.err
}
