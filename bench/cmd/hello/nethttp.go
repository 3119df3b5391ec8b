package main

import (
	"context"
	"net"
	"net/http"
	"time"
)

// netHTTPServer streams uploads with Request.MultipartReader, the
// documented way to receive large files without ParseMultipartForm's
// in-memory part. Its handlers are also what httpev-handler serves through
// httpev.ServeHandler.
type netHTTPServer struct {
	tmp string
	db  *db
}

// serverName is sent in the Server header the TechEmpower rules require
// (net/http sends none of its own).
var serverName = []string{"nethttp"}

func (s *netHTTPServer) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(body))
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, status, err := receiveParts(mr, s.tmp)
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(out)
	})
	for _, p := range []string{"/plaintext", "/json", "/db", "/queries", "/fortunes", "/updates", "/sleep"} {
		mux.HandleFunc("GET "+p, s.tfb(routeOf(p)))
	}
	return mux
}

// tfb answers a TechEmpower route the way a net/http application would.
func (s *netHTTPServer) tfb(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var q string
		if rt == rQueries || rt == rUpdates {
			q = r.URL.Query().Get("queries")
		}
		ctype, body, err := s.db.answer(r.Context(), rt, q)
		h := w.Header()
		h["Server"] = serverName
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h["Content-Type"] = []string{ctype}
		_, _ = w.Write(body)
	}
}

func (s *netHTTPServer) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux(), ReadHeaderTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
