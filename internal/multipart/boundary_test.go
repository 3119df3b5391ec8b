package multipart

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoundary(t *testing.T) {
	long := strings.Repeat("b", 70)
	tests := []struct {
		ct, want string
		err      error
	}{
		{"multipart/form-data; boundary=xYzZY", "xYzZY", nil},
		{`Multipart/Form-Data; charset=utf-8; BOUNDARY="with space:(x)"`, "with space:(x)", nil},
		{"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", "----WebKitFormBoundary7MA4YWxkTrZu0gW", nil},
		{"multipart/form-data; boundary=" + long, long, nil},
		{"multipart/form-data; boundary=" + long + "b", "", ErrBadBoundary},
		{"multipart/form-data", "", ErrBadBoundary},
		{`multipart/form-data; boundary=""`, "", ErrBadBoundary},
		{`multipart/form-data; boundary="ends in space "`, "", ErrBadBoundary},
		{`multipart/form-data; boundary="bad*char"`, "", ErrBadBoundary},
		{`multipart/form-data; boundary=a; boundary=b`, "", ErrBadBoundary},
		{`multipart/form-data; boundary=a b`, "", ErrBadBoundary},
		{"multipart/mixed; boundary=abc", "", ErrNotFormData},
		{"application/x-www-form-urlencoded", "", ErrNotFormData},
		{"", "", ErrNotFormData},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			got, err := Boundary(tt.ct)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
