package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/httpev/httpev"
)

// config is the parsed command line. It is a plain value so tests can build
// one without going through flags.
type config struct {
	addr          string
	dir           string
	tmp           string // "" means <dir>/.tmp, on the same filesystem so Save is a rename
	ownTmp        bool   // tmp is the default <dir>/.tmp, which no other program uses
	threading     bool
	io            string
	timeout       time.Duration
	grace         time.Duration
	legacyCharset string
	maxFileSize   int64
	tlsCert       string
	tlsKey        string
	backend       bool
	// trusted limits whom -backend believes; empty believes every peer.
	trusted []netip.Prefix
	// procs is the number of worker processes; 1 serves in this process.
	procs int
	// restart turns on restarts on SIGHUP (restart.go); pidFile is where
	// the serving process's pid is written.
	restart bool
	pidFile string
}

// parseConfig reads the flags. Usage and errors go to out, because the
// caller (main or a test) decides where a human reads them.
func parseConfig(args []string, out io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("httpev-upload", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "httpev-upload: a file-drop server built on httpev.\n\nUsage: httpev-upload [flags]\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free one)")
	fs.StringVar(&cfg.dir, "dir", "./uploads", "`directory` received files are saved in (created if missing)")
	fs.StringVar(&cfg.tmp, "tmp", "", "`directory` for files while they arrive (default <dir>/.tmp, so saving is a rename)")
	fs.BoolVar(&cfg.threading, "threading", false, "run each request callback in its own goroutine instead of on the one loop goroutine")
	fs.StringVar(&cfg.io, "io", "async", "disk backend for arriving files: `async` (writer goroutine per file) or blocking")
	fs.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "drop a request that sends nothing for this long before it is fully received")
	fs.DurationVar(&cfg.grace, "grace", 5*time.Minute, "on SIGINT/SIGTERM, how long uploads in flight may take to finish")
	fs.StringVar(&cfg.legacyCharset, "legacy-charset", "", "`charset` for form values that are not valid UTF-8, e.g. windows-1251")
	fs.Func("max-file-size", "largest accepted file, in bytes or with a K, M, G or T suffix (default unlimited)", func(s string) error {
		n, err := parseSize(s)
		cfg.maxFileSize = n
		return err
	})
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate `file`: serve HTTPS (needs -tls-key)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key `file` for -tls-cert")
	fs.BoolVar(&cfg.backend, "backend", false, "behind a reverse proxy: take the client address from X-Real-IP")
	fs.Func("trusted-proxies", "comma-separated `addresses or CIDR prefixes` whose X-Real-IP is believed (implies -backend; default: every peer's)", func(s string) error {
		ps, err := parsePrefixes(s)
		cfg.trusted = append(cfg.trusted, ps...)
		return err
	})
	fs.IntVar(&cfg.procs, "procs", 1, "worker `processes` serving the one listening socket; a supervisor restarts any that dies")
	fs.BoolVar(&cfg.restart, "restart", true, "on SIGHUP, start this program's binary again on the same listening sockets, then finish the requests in flight here and exit (zero-downtime restart; not on Windows)")
	fs.StringVar(&cfg.pidFile, "pid-file", "", "`file` to write the serving process's pid to (rewritten by each restart)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.io != "async" && cfg.io != "blocking" {
		return cfg, fmt.Errorf("-io must be async or blocking, not %q", cfg.io)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, errors.New("-tls-cert and -tls-key go together")
	}
	if cfg.procs < 1 {
		return cfg, fmt.Errorf("-procs must be at least 1, not %d", cfg.procs)
	}
	if len(cfg.trusted) > 0 {
		cfg.backend = true
	}
	if cfg.tmp == "" {
		cfg.tmp, cfg.ownTmp = filepath.Join(cfg.dir, tmpDirName), true
	}
	return cfg, nil
}

// tmpDirName is the default temp directory inside -dir. The leading dot
// keeps it out of the file list and out of reach of downloads.
const tmpDirName = ".tmp"

// ioBackend maps -io to the library's disk backends, so both can be tried
// on the same disk without recompiling.
func (c config) ioBackend() httpev.IO {
	if c.io == "blocking" {
		return httpev.BlockingIO{}
	}
	return httpev.NewAsyncIO(0)
}

// parseSize reads a byte count such as 1048576, 512K, 10M or 1.5G (binary
// multiples), because nobody wants to type 10737418240 for 10G.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I") // 10MB, 10MiB
	mult := int64(1)
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			t = t[:len(t)-1]
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && n >= 0 {
		if n > (1<<63-1)/mult {
			return 0, fmt.Errorf("size %q overflows", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) >= 1<<63 {
		return 0, fmt.Errorf("invalid size %q: want bytes or a number with K, M, G or T", s)
	}
	return int64(f * float64(mult)), nil
}

// parsePrefixes reads -trusted-proxies: CIDR prefixes or single addresses
// (a bare address is its own /32 or /128), separated by commas.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("no trusted proxy given")
	}
	return out, nil
}
