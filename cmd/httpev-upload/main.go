// Command httpev-upload is a file-drop server built only on httpev's public
// API: a page with drag-and-drop and two progress bars per file (what the
// browser sent, and what the server's OnFileWrite callback has on disk,
// streamed back as Server-Sent Events), the list of received files with
// their SHA-256 computed while they arrived, downloads, deletes, and an
// /echo endpoint that answers with what the CGI object parsed.
//
//	go run ./cmd/httpev-upload            # http://127.0.0.1:8080/
//	go run ./cmd/httpev-upload -h         # flags
//
// It doubles as the library's most complete usage example, so every piece is
// written the way the library asks: nothing blocks the loop goroutine when
// -threading is off, and everything is race-free when it is on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/httpev/httpev"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "httpev-upload:", err)
		os.Exit(1)
	}
}

// run is the whole program with its inputs made explicit, so tests run it
// in-process: it serves until ctx ends, then shuts down gracefully (uploads
// in flight finish, progress streams end, the temp directory is left empty)
// and returns. ready, when set, gets the address actually bound, which is
// how a caller using port 0 finds the server.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(addr string)) error {
	cfg, err := parseConfig(args, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	a, err := newApp(cfg.dir, log)
	if err != nil {
		return err
	}
	srv, err := httpev.New(httpev.Options{
		TmpPath:       cfg.tmp,
		IO:            cfg.ioBackend(),
		LegacyCharset: cfg.legacyCharset,
		MaxFileSize:   cfg.maxFileSize,
		Backend:       cfg.backend,
		Logger:        log,
		// Emptying a temp directory is only safe when it is ours alone.
		CleanupOnDestroy: cfg.ownTmp,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	a.reg = newMetrics(srv.Stats)
	if cfg.ownTmp {
		// Left over by a process that was killed mid-upload.
		if err := srv.Cleanup(); err != nil {
			log.Warn("emptying the temp directory", "err", err)
		}
	}
	opts := a.listenOptions(cfg.threading, cfg.timeout)
	opts.CertFile, opts.KeyFile = cfg.tlsCert, cfg.tlsKey
	l, err := srv.Listen(cfg.addr, a.serve, opts)
	if err != nil {
		return err
	}
	addr, scheme := l.Addr().String(), "http"
	if cfg.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "httpev-upload: serving %s on %s://%s/ (threading=%v, io=%s)\n",
		cfg.dir, scheme, addr, cfg.threading, cfg.io)
	if ready != nil {
		ready(addr)
	}

	<-ctx.Done()
	log.Info("shutting down: finishing requests in flight", "grace", cfg.grace)
	// Progress streams never end on their own; without this Shutdown would
	// wait for every open page to be closed.
	a.drain()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.grace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		log.Warn("grace period over; cutting what is left", "err", err)
	}
	srv.Close()
	a.close()
	log.Info("stopped")
	return err
}
