package multipart

import (
	"errors"
	"fmt"
	"mime"
	"strings"
)

var (
	// ErrNotFormData reports a Content-Type other than multipart/form-data.
	ErrNotFormData = errors.New("multipart: content type is not multipart/form-data")
	// ErrBadBoundary reports a multipart/form-data Content-Type whose
	// boundary parameter is missing or not RFC 2046 syntax.
	ErrBadBoundary = errors.New("multipart: missing or invalid boundary")
)

// Boundary returns the boundary parameter of a multipart/form-data
// Content-Type value, quoted or not. It fails with ErrNotFormData for any
// other media type, and with ErrBadBoundary when the boundary is missing or
// breaks RFC 2046: 1 to 70 characters from
// DIGIT ALPHA ' ( ) + _ , - . / : = ? and space, not ending in a space.
// It allocates (it uses mime.ParseMediaType); call it once per request.
func Boundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if mt == "" && err != nil {
		// A duplicate parameter makes ParseMediaType drop the type as well.
		base, _, _ := strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(base))
	}
	if mt != "multipart/form-data" {
		return "", fmt.Errorf("%w: %q", ErrNotFormData, contentType)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadBoundary, err)
	}
	b, ok := params["boundary"]
	if !ok || !validBoundary(b) {
		return "", fmt.Errorf("%w: %q", ErrBadBoundary, b)
	}
	return b, nil
}

// validBoundary checks RFC 2046 section 5.1.1:
//
//	boundary := 0*69<bchars> bcharsnospace
func validBoundary(b string) bool {
	if len(b) < 1 || len(b) > 70 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !isBChar(b[i]) {
			return false
		}
	}
	return true
}

func isBChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '\'', '(', ')', '+', '_', ',', '-', '.', '/', ':', '=', '?', ' ':
		return true
	}
	return false
}
