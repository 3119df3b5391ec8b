// Package multipart is a push-style, zero-copy streaming parser for
// multipart/form-data request bodies (RFC 7578, RFC 2046 section 5.1).
//
// # Why not mime/multipart
//
// httpev promises that uploaded files never sit in memory: a file part goes
// from the socket to a temp file chunk by chunk, and each chunk is written to
// disk straight from the buffer it was read into. [mime/multipart] pulls
// bytes through an io.Reader and copies every byte of content into the
// caller's slice; it also owns a 4 KB bufio.Reader per body. This package
// turns that around: the server owns the buffers and pushes bytes in, and
// the parser hands back sub-slices of those very bytes.
//
// # The Feed contract
//
// The server reads body bytes into a (pooled) buffer and calls
// [Parser.Feed] with the filled region. Feed calls the [Handler] with the
// parts it finds; [Handler.PartData] receives sub-slices of the slice passed
// to Feed, never a copy, so an asynchronous disk writer may keep the buffer
// until its write finishes. Feed returns how many leading bytes it consumed.
// The rest, at most [Parser.MaxTail] bytes (a possibly partial delimiter,
// which might still turn out to be content), must be presented again at the
// front of the next call, followed by newly read bytes:
//
//	n, err := p.Feed(buf[:filled], eof)
//	filled = copy(buf, buf[n:filled]) // tail to the front; then read after it
//
// Part header blocks are small and become strings anyway, so the parser
// copies them into a buffer of its own (bounded by Limits.MaxHeaderBytes);
// a server buffer only has to be larger than MaxTail to always make progress.
//
// # Cost
//
// In part content, Feed runs one search for "\r\n--boundary" over the new
// bytes (anchored on a rare byte of the boundary, so text with a CR on every
// line scans as fast as binary data: 10 GB/s and up on one core) and makes one
// PartData call per Feed. It allocates nothing in the steady state; a part
// typically costs two small allocations (the Part with its header fields,
// and one string holding the header block that names and values point into).
//
// # Compatibility
//
// Delimiter recognition follows mime/multipart, including its leniencies: a
// preamble is skipped line by line; "--boundary" directly after a part's
// header block ends an empty part; "\r\n--boundary" followed by anything
// other than "--", space, tab, CR or LF is content; if the first delimiter
// line ends in a bare LF, the body is parsed with LF line breaks. Header
// lines follow net/textproto (LF or CRLF endings, folded lines joined).
// Content-Disposition is parsed like mime.ParseMediaType (quoted strings,
// RFC 2231/5987 extended and continued parameters) and additionally decodes
// ISO-8859-1 extended values. A differential fuzz test holds the parser to
// this. The differences are deliberate:
//
//   - a body that ends inside a part's header block is ErrUnexpectedEOF;
//     mime/multipart returns io.EOF there and silently drops the part;
//   - preamble and delimiter lines have no length limit (mime/multipart fails
//     on lines over its 4 KB buffer), while part headers have much lower
//     default limits (see Limits);
//   - Content-Transfer-Encoding is not applied: content is delivered as
//     sent, like mime/multipart's NextRawPart.
package multipart
