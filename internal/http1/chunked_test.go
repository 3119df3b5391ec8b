package http1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func source(s string) Source { return BufioSource{bufio.NewReader(strings.NewReader(s))} }

// readAll drains c with reads of at most step bytes, checking Read never
// returns more than asked.
func readAll(t *testing.T, c *ChunkedReader, step int) (string, error) {
	t.Helper()
	var out bytes.Buffer
	p := make([]byte, step)
	for {
		n, err := c.Read(p)
		require.LessOrEqual(t, n, step)
		out.Write(p[:n])
		if err != nil {
			return out.String(), err
		}
	}
}

func flattenHeaders(hs []Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, string(h.Name)+": "+string(h.Value))
	}
	return out
}

func TestChunkedValid(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1000)
	tests := []struct {
		name     string
		in       string
		data     string
		trailers []string
	}{
		{"empty", "0\r\n\r\n", "", nil},
		{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"several chunks", "5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n", "hello world!", nil},
		{"hex case and zeros", "000A\r\n0123456789\r\na\r\n0123456789\r\n00\r\n\r\n", strings.Repeat("0123456789", 2), nil},
		{"chunk larger than buffers", "3e80\r\n" + big + "\r\n0\r\n\r\n", big, nil},
		{"extension name", "5;a\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"extensions with BWS", "5 ;\ta = b ; c=\"q\\\"x; \" ;d\r\nhello\r\n0;last=1\r\n\r\n", "hello", nil},
		{"quoted obs-text", "5;a=\"caf\xc3\xa9\\\t\"\r\nhello\r\n0\r\n\r\n", "hello", nil},
		{"trailers", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nY:  v \t\r\nEmpty:\r\n\r\n", "hello",
			[]string{"X-Sum: abc", "Y: v", "Empty: "}},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 3, 7, 4096, 1 << 16} {
			c := NewChunkedReader(source(tt.in), ChunkLimits{})
			assert.Nil(t, c.Trailers(), "%s: trailers before EOF", tt.name)
			data, err := readAll(t, c, step)
			require.Equal(t, io.EOF, err, "%s step %d", tt.name, step)
			require.Equal(t, tt.data, data, "%s step %d", tt.name, step)
			require.Equal(t, tt.trailers, flattenHeaders(c.Trailers()), "%s step %d", tt.name, step)
			n, err := c.Read(make([]byte, 8))
			assert.Zero(t, n)
			assert.Equal(t, io.EOF, err, "EOF is sticky")
		}
	}
}

func TestChunkedSlowSource(t *testing.T) {
	// Lines and data arriving a byte at a time, or in halves, decode the same.
	in := "5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n"
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader, "half": iotest.HalfReader, "data err": iotest.DataErrReader,
	} {
		c := NewChunkedReader(BufioSource{bufio.NewReaderSize(wrap(strings.NewReader(in)), 16)}, ChunkLimits{})
		data, err := readAll(t, c, 4)
		require.Equal(t, io.EOF, err, name)
		assert.Equal(t, "hello0123456789abcdef", data, name)
		assert.Equal(t, []string{"T: 1"}, flattenHeaders(c.Trailers()), name)
	}
}

func TestChunkedErrors(t *testing.T) {
	lim := ChunkLimits{MaxLine: 16, MaxTrailers: 2, MaxTrailerBytes: 64, MaxHeaderName: 8, MaxHeaderValue: 16}
	tests := []struct {
		name string
		in   string
		want error
	}{
		// chunk-size line
		{"empty size", "\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"bad hex", "g\r\n", ErrMalformed},
		{"sign", "+5\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"leading space", " 5\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"trailing space", "5 \r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"overflow", "8000000000000000\r\n", ErrMalformed},
		{"max overflow", "ffffffffffffffff\r\n", ErrMalformed},
		{"bare LF line", "5\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"bare LF last chunk", "5\r\nhello\r\n0\n\r\n", ErrMalformed},
		{"bare CR in line", "5\r\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"line too long", "5;" + strings.Repeat("a", 15) + "\r\nhello\r\n0\r\n\r\n", ErrChunkLineTooLong},
		{"zeros too long", strings.Repeat("0", 17) + "5\r\nhello\r\n0\r\n\r\n", ErrChunkLineTooLong},

		// extensions
		{"empty extension", "5;\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"no ext name", "5;=x\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"no ext value", "5;a=\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"space in ext value", "5;a=b c\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"ext trailing space", "5;a \r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"unterminated quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"CTL in quote", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", ErrMalformed},
		{"garbage after ext", "5;a=b\"\r\nhello\r\n0\r\n\r\n", ErrMalformed},

		// data and its CRLF
		{"data too long", "5\r\nhelloX\r\n0\r\n\r\n", ErrMalformed},
		{"missing CRLF", "5\r\nhello0\r\n\r\n", ErrMalformed},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n", ErrMalformed},
		{"bare CR after data", "5\r\nhello\r0\r\n\r\n", ErrMalformed},

		// trailers
		{"trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", ErrMalformed},
		{"trailer space before colon", "0\r\nA : b\r\n\r\n", ErrMalformed},
		{"trailer no colon", "0\r\nA\r\n\r\n", ErrMalformed},
		{"trailer NUL", "0\r\nA: b\x00\r\n\r\n", ErrMalformed},
		{"trailer bare LF", "0\r\nA: b\n\r\n", ErrMalformed},
		{"trailer bare LF end", "0\r\nA: b\r\n\n", ErrMalformed},
		{"trailer bare CR", "0\r\nA: b\rc\r\n\r\n", ErrMalformed},
		{"too many trailers", "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", ErrTooManyHeaders},
		{"trailer name too long", "0\r\nABCDEFGHI: 1\r\n\r\n", ErrHeaderTooLarge},
		{"trailer value too long", "0\r\nA: 0123456789abcdefg\r\n\r\n", ErrHeaderTooLarge},
		{"trailer section too large", "0\r\nA: 0123456789abcdef\r\nB: 0123456789abcdef\r\n" +
			"C: 0123456789abcdef\r\n\r\n", ErrHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := lim
			switch tt.name {
			case "too many trailers":
				lim.MaxTrailerBytes = 0 // default
			case "trailer section too large":
				lim.MaxTrailers = 0 // default
			}
			c := NewChunkedReader(source(tt.in), lim)
			_, err := readAll(t, c, 64)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, tt.want.(*Error).Status, StatusOf(err))
			n, err2 := c.Read(make([]byte, 8))
			assert.Zero(t, n)
			assert.Equal(t, err, err2, "errors are sticky")
			assert.Nil(t, c.Trailers())
		})
	}
}

func TestChunkedUnexpectedEOF(t *testing.T) {
	for _, in := range []string{
		"", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello", "5\r\nhello\r", "5\r\nhello\r\n",
		"0\r\n", "0\r\nA: b", "0\r\nA: b\r\n", "0\r\n\r", "7fffffffffffffff\r\nabc",
	} {
		c := NewChunkedReader(source(in), ChunkLimits{})
		_, err := readAll(t, c, 64)
		assert.Equal(t, io.ErrUnexpectedEOF, err, "%q", in)
	}
}

func TestChunkedOverhead(t *testing.T) {
	// One data byte per chunk wrapped in a kilobyte of extensions is
	// refused long before the body ends.
	ext := ";" + strings.Repeat("e", 1000)
	body := strings.Repeat("1"+ext+"\r\nx\r\n", 1000) + "0\r\n\r\n"
	c := NewChunkedReader(source(body), ChunkLimits{})
	data, err := readAll(t, c, 64)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Less(t, len(data), 20)

	// Normal small chunks are fine.
	c.Reset(source(strings.Repeat("1;a=b\r\nx\r\n", 10000)+"0\r\n\r\n"), ChunkLimits{})
	data, err = readAll(t, c, 64)
	require.Equal(t, io.EOF, err)
	assert.Len(t, data, 10000)
}

func TestChunkedReset(t *testing.T) {
	c := NewChunkedReader(source("0\r\nA: 1\r\nB: 2\r\n\r\n"), ChunkLimits{})
	_, err := readAll(t, c, 8)
	require.Equal(t, io.EOF, err)
	require.Equal(t, []string{"A: 1", "B: 2"}, flattenHeaders(c.Trailers()))
	c.Reset(source("3\r\nabc\r\n0\r\nC: 3\r\n\r\n"), ChunkLimits{})
	assert.Nil(t, c.Trailers())
	data, err := readAll(t, c, 8)
	require.Equal(t, io.EOF, err)
	assert.Equal(t, "abc", data)
	assert.Equal(t, []string{"C: 3"}, flattenHeaders(c.Trailers()))
}

// recordingSource remembers where Read was asked to put data.
type recordingSource struct {
	BufioSource
	dst [][]byte
}

func (s *recordingSource) Read(p []byte) (int, error) {
	s.dst = append(s.dst, p)
	return s.BufioSource.Read(p)
}

func TestChunkedReadsIntoCallerSlice(t *testing.T) {
	src := &recordingSource{BufioSource: BufioSource{bufio.NewReader(strings.NewReader("5\r\nhello\r\n0\r\n\r\n"))}}
	c := NewChunkedReader(src, ChunkLimits{})
	p := make([]byte, 64)
	n, err := c.Read(p)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.NotEmpty(t, src.dst)
	assert.Same(t, &p[0], &src.dst[0][0], "data goes straight into p")
	assert.Len(t, src.dst[0], 5, "never asks for more than the chunk holds")
}

func TestChunkedZeroAlloc(t *testing.T) {
	body := []byte("5;a=b\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX: y\r\n\r\n")
	r := bytes.NewReader(body)
	br := bufio.NewReader(r)
	var c ChunkedReader
	p := make([]byte, 8)
	run := func() {
		r.Reset(body)
		br.Reset(r)
		c.Reset(BufioSource{br}, ChunkLimits{})
		for {
			if _, err := c.Read(p); err != nil {
				return
			}
		}
	}
	run() // grow trailer storage once
	assert.Zero(t, testing.AllocsPerRun(100, run))
}

func TestChunkedEmptyRead(t *testing.T) {
	c := NewChunkedReader(source("5\r\nhello\r\n0\r\n\r\n"), ChunkLimits{})
	n, err := c.Read(nil)
	assert.Zero(t, n)
	assert.NoError(t, err)
	data, err := readAll(t, c, 2)
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, "hello", data)
}

func TestBufioSource(t *testing.T) {
	s := BufioSource{bufio.NewReaderSize(strings.NewReader("ab\r\ncd\nefghijklmnopqrstuvwxyz\n"), 16)}
	line, err := s.ReadLine(4)
	require.NoError(t, err)
	assert.Equal(t, "ab\r\n", string(line))
	line, err = s.ReadLine(3)
	require.NoError(t, err)
	assert.Equal(t, "cd\n", string(line))
	_, err = s.ReadLine(1000)
	assert.Equal(t, ErrLineTooLong, err, "longer than the bufio buffer")

	s = BufioSource{bufio.NewReader(strings.NewReader("abc\nde"))}
	_, err = s.ReadLine(3)
	assert.Equal(t, ErrLineTooLong, err)
	_, err = s.ReadLine(10)
	assert.Equal(t, io.ErrUnexpectedEOF, err)
	_, err = s.ReadLine(10)
	assert.Equal(t, io.EOF, err)
}
