package multipart

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSafeFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		// The HTTP::Server::EV test case, as the brief spells it in Go.
		{"../.\\..:<>utf8_файл\x00.jpg", ".._.__..___utf8_файл.jpg"},
		{"report.pdf", "report.pdf"},
		{"файл.txt", "файл.txt"},
		{"", ""},
		{".", "_"},
		{"..", "__"},
		{"...", "..."},
		{"a/b\\c:d<e>f*g?h\"i|j", "a_b__c_d_e_f_g_h_i_j"},
		{"tab\there\r\n\x7f\u0085.txt", "tabhere.txt"},
		{"evil\u202egpj.exe", "evilgpj.exe"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"\x00", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SafeFileName(tt.in), "SafeFileName(%q)", tt.in)
	}
}

func TestSafeFileNameDoesNotAllocateWhenSafe(t *testing.T) {
	name := "photo_2024-01-01 (1).jpg"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = SafeFileName(name) }))
}
