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
	"net"
	"os"
	"os/signal"
	"path/filepath"
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
	in, err := inherited()
	if err != nil {
		closeAll(in.lns)
		return err
	}
	var rs *restarter
	if cfg.restart && in.from != "supervisor" {
		if rs, err = newRestarter(cfg.pidFile, log); err != nil {
			closeAll(in.lns)
			return err
		}
		defer rs.stop()
	}
	if cfg.procs > 1 && in.from != "supervisor" {
		return runSupervisor(ctx, cfg, args, in, rs, stdout, log, ready)
	}
	if in.from == "supervisor" {
		log = log.With("pid", os.Getpid())
		if cfg.ownTmp {
			// Each worker empties its temp directory at start and on exit;
			// a shared one would lose the other workers' uploads in flight.
			cfg.tmp = filepath.Join(cfg.tmp, "worker-"+in.slot)
		}
	}
	a, err := newApp(cfg.dir, log)
	if err != nil {
		closeAll(in.lns)
		return err
	}
	srv, err := httpev.New(httpev.Options{
		TmpPath:        cfg.tmp,
		IO:             cfg.ioBackend(),
		LegacyCharset:  cfg.legacyCharset,
		MaxFileSize:    cfg.maxFileSize,
		Backend:        cfg.backend,
		TrustedProxies: cfg.trusted,
		Logger:         log,
		// Emptying a temp directory is only safe when it is ours alone.
		CleanupOnDestroy: cfg.ownTmp,
	})
	if err != nil {
		closeAll(in.lns)
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
	// The sockets to serve: those handed over, or -addr.
	lns := in.lns
	if rs != nil {
		if lns, err = rs.listeners(lns, cfg.addr); err != nil {
			closeAll(in.lns)
			return err
		}
	}
	addrs := make([]any, 0, max(1, len(lns)))
	for _, ln := range lns {
		addrs = append(addrs, ln)
	}
	if len(addrs) == 0 {
		addrs = append(addrs, cfg.addr)
	}
	var first string
	for i, addr := range addrs {
		l, err := srv.Listen(addr, a.serve, opts)
		if err != nil {
			closeAll(lns[i:])
			return err
		}
		bound := l.Addr().String()
		if first == "" {
			first = bound
		}
		fmt.Fprintf(stdout, "httpev-upload: %sserving %s on %s (threading=%v, io=%s%s)\n",
			workerLabel(in), cfg.dir, cfg.url(bound), cfg.threading, cfg.io, inheritedLabel(in))
	}
	if rs != nil {
		if ctx, err = rs.serve(ctx); err != nil {
			return err
		}
	}
	if ready != nil {
		ready(first)
	}

	<-ctx.Done()
	rs.stop() // before Shutdown closes the sockets: see stop
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

// runSupervisor is run with -procs above 1: it binds -addr (or takes the
// sockets systemd passed) and leaves the serving to worker processes.
func runSupervisor(ctx context.Context, cfg config, args []string, in inheritance, rs *restarter, stdout io.Writer, log *slog.Logger, ready func(string)) error {
	lns := in.lns
	if rs != nil {
		var err error
		if lns, err = rs.listeners(lns, cfg.addr); err != nil {
			closeAll(in.lns)
			return err
		}
		// The new workers start after this, on the sockets: meanwhile
		// connections wait in their queue, which both supervisors hold.
		if ctx, err = rs.serve(ctx); err != nil {
			closeAll(lns)
			return err
		}
	}
	if len(lns) == 0 {
		ln, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.addr, err)
		}
		lns = []net.Listener{ln}
	}
	// The supervisor keeps its copies open for the workers it will restart,
	// and so that connections queued while none accepts are not refused.
	defer closeAll(lns)
	for _, ln := range lns {
		fmt.Fprintf(stdout, "httpev-upload: serving %s on %s with %d worker processes (threading=%v, io=%s%s)\n",
			cfg.dir, cfg.url(ln.Addr().String()), cfg.procs, cfg.threading, cfg.io, inheritedLabel(in))
	}
	if ready != nil {
		ready(lns[0].Addr().String())
	}
	return supervise(ctx, cfg, args, lns, stdout, log)
}

// url is how a person reaches the server on addr.
func (c config) url(addr string) string {
	if c.tlsCert != "" {
		return "https://" + addr + "/"
	}
	return "http://" + addr + "/"
}

func workerLabel(in inheritance) string {
	if in.from == "supervisor" {
		return fmt.Sprintf("worker %s (pid %d) ", in.slot, os.Getpid())
	}
	return ""
}

func inheritedLabel(in inheritance) string {
	if in.from == "systemd" {
		return ", socket from systemd"
	}
	return ""
}
