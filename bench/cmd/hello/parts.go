package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
)

// receiveParts is the upload handler net/http and fasthttp share: each file
// part is copied to a temp file through a SHA-256 hash, the way an
// application receives a large file with mime/multipart. It returns the
// reply body, or a status and error.
func receiveParts(mr *multipart.Reader, dir string) ([]byte, int, error) {
	var out []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		if p.FileName() == "" {
			_, _ = io.Copy(io.Discard, p)
			continue
		}
		n, sum, err := hashToTemp(p, dir)
		if err != nil {
			return nil, http.StatusInternalServerError, err
		}
		out = fmt.Appendf(out, "%d %x\n", n, sum)
	}
	if out == nil {
		return nil, http.StatusBadRequest, fmt.Errorf("no file")
	}
	return out, 0, nil
}

// hashToTemp writes r to a new temp file in dir and hashes it on the way;
// the file is removed afterwards, as the httpev server's temp files are.
func hashToTemp(r io.Reader, dir string) (int64, []byte, error) {
	f, err := os.CreateTemp(dir, "hello-upload-")
	if err != nil {
		return 0, nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return n, nil, err
	}
	return n, h.Sum(nil), f.Close()
}
