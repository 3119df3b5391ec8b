package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"mime/multipart"
	"net"

	"github.com/valyala/fasthttp"
)

// fastHTTPServer receives uploads in one of fasthttp's two ways.
//
// stream (the default "fasthttp" server): StreamRequestBody with
// DisablePreParseMultipartForm, so the handler runs after fasthttp has
// pre-read at most 8 KB of the body, and reads the rest from
// RequestBodyStream through mime/multipart into a temp file, like the
// net/http server.
//
// form ("fasthttp-form"): fasthttp's default, where the server itself
// parses a multipart body of known length before the handler runs, with
// mime/multipart's ReadForm: up to 16 MB of file data in memory, the rest
// spilled to a temp file. The handler then reads that file back to hash it,
// so every byte is written once and read once more (the handler only
// hashes it; the temp file is fasthttp's). MaxRequestBodySize must
// be raised past the upload size, since fasthttp refuses a larger body up
// front.
type fastHTTPServer struct {
	stream bool
	tmp    string
	db     *db
}

func (s *fastHTTPServer) serve(ctx context.Context, ln net.Listener) error {
	srv := &fasthttp.Server{
		Handler:                      s.handle,
		Name:                         "fasthttp",
		StreamRequestBody:            s.stream,
		DisablePreParseMultipartForm: s.stream,
	}
	if !s.stream {
		srv.MaxRequestBodySize = 8 << 30
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	return srv.Serve(ln)
}

func (s *fastHTTPServer) handle(ctx *fasthttp.RequestCtx) {
	if r := routeOf(string(ctx.Path())); r != rNone {
		var q string
		if r == rQueries || r == rUpdates {
			q = string(ctx.QueryArgs().Peek("queries"))
		}
		ctype, body, err := s.db.answer(ctx, r, q)
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetContentType(ctype)
		ctx.SetBody(body)
		return
	}
	if string(ctx.Path()) == "/upload" && ctx.IsPost() {
		if s.stream {
			s.uploadStream(ctx)
		} else {
			s.uploadForm(ctx)
		}
		return
	}
	ctx.SetContentType("text/html")
	ctx.SetBodyString(body)
}

func (s *fastHTTPServer) uploadStream(ctx *fasthttp.RequestCtx) {
	boundary := string(ctx.Request.Header.MultipartFormBoundary())
	if boundary == "" {
		ctx.Error("not multipart", fasthttp.StatusBadRequest)
		return
	}
	out, status, err := receiveParts(multipart.NewReader(ctx.RequestBodyStream(), boundary), s.tmp)
	if err != nil {
		ctx.Error(err.Error(), status)
		return
	}
	ctx.SetContentType("text/plain")
	ctx.SetBody(out)
}

func (s *fastHTTPServer) uploadForm(ctx *fasthttp.RequestCtx) {
	form, err := ctx.MultipartForm()
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		return
	}
	defer ctx.Request.RemoveMultipartFormFiles()
	var out []byte
	for _, fhs := range form.File {
		for _, fh := range fhs {
			f, err := fh.Open()
			if err != nil {
				ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			h := sha256.New()
			n, err := io.Copy(h, f)
			f.Close()
			if err != nil {
				ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			out = fmt.Appendf(out, "%d %x\n", n, h.Sum(nil))
		}
	}
	ctx.SetContentType("text/plain")
	ctx.SetBody(out)
}
