package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
)

// Zero-downtime restarts: SIGHUP makes the app start its binary again (the
// new one, if it was replaced on disk) and hand it the listening sockets;
// once the new process serves, this one stops accepting, finishes what it
// has in flight (uploads included, and requests that arrive on its idle
// keep-alive connections in the library's drain window, answered with
// Connection: close) and exits. The sockets never close, so no client
// sees a refused or reset connection. github.com/cloudflare/tableflip does
// the hand-over: passing descriptors, the new process's readiness, the
// PID file, and refusing a second restart until the old process is gone.
//
// With -procs the supervisor restarts: the new supervisor starts its
// workers on the inherited sockets, the old one stops its own.

// upgradeTimeout is how long a new process may take to start serving
// before the restart is abandoned (it is killed, the old one serves on).
const upgradeTimeout = time.Minute

// restarter is the app's side of tableflip.
type restarter struct {
	upg *tableflip.Upgrader
	log *slog.Logger
}

// newRestarter sets up restarts; nil (with no error) where the system has
// none (Windows).
func newRestarter(pidFile string, log *slog.Logger) (*restarter, error) {
	upg, err := tableflip.New(tableflip.Options{PIDFile: pidFile, UpgradeTimeout: upgradeTimeout})
	if errors.Is(err, tableflip.ErrNotSupported) {
		log.Info("no restarts on SIGHUP on this system")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("restarts: %w", err)
	}
	if upg.HasParent() {
		log.Info("started by a restart: serving the sockets of the previous process")
	}
	return &restarter{upg: upg, log: log}, nil
}

// inheritedKey names the i-th socket passed by systemd among the sockets
// handed to the next process (the key's network part is only a name).
func inheritedKey(i int) (network, addr string) { return "httpev", "inherited-" + strconv.Itoa(i) }

// listeners returns the sockets to serve: those of the previous process
// after a restart, else the ones systemd passed (lns), else addr bound
// now. Every one is registered to be handed to the next process.
func (r *restarter) listeners(lns []net.Listener, addr string) ([]net.Listener, error) {
	if len(lns) == 0 {
		for i := 0; ; i++ {
			ln, err := r.upg.Listener(inheritedKey(i))
			if err != nil {
				return nil, err
			}
			if ln == nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) > 0 {
			return lns, r.add(lns)
		}
		ln, err := r.upg.Listen("tcp", addr) // inherited under this name, or bound now
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		return []net.Listener{ln}, nil
	}
	return lns, r.add(lns)
}

// add registers sockets the app did not bind through tableflip.
func (r *restarter) add(lns []net.Listener) error {
	for i, ln := range lns {
		tl, ok := ln.(tableflip.Listener)
		if !ok {
			return fmt.Errorf("restarts: %T cannot be handed to a new process", ln)
		}
		network, addr := inheritedKey(i)
		if err := r.upg.AddListener(network, addr, tl); err != nil {
			return fmt.Errorf("restarts: %w", err)
		}
	}
	return nil
}

// serve reports this process ready (which ends the previous one's wait and
// writes the PID file), then restarts on every SIGHUP until ctx ends. The
// returned context ends with ctx or once a new process has taken over.
func (r *restarter) serve(ctx context.Context) (context.Context, error) {
	if err := r.upg.Ready(); err != nil {
		return nil, fmt.Errorf("restarts: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	// Never undone: SIGHUP's default action would kill a process that is
	// finishing its requests; once restarting is over, extra ones are
	// dropped with the channel full.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.upg.Exit():
				r.log.Info("restarted: the new process serves; finishing requests in flight here")
				return
			case <-hup:
				r.log.Info("SIGHUP: starting the new process")
				if err := r.upg.Upgrade(); err != nil {
					r.log.Error("restart failed; serving on", "err", err)
				}
			}
		}
	}()
	return ctx, nil
}

// stop ends restarts: a process shutting down for good hands nothing over.
// It returns once tableflip has closed its copies of the listening
// sockets: until then a socket stays open after the server has closed it,
// and the connections the kernel queues on it meanwhile, which nobody will
// accept, are reset when the process exits.
func (r *restarter) stop() {
	if r != nil {
		r.upg.Stop()
		<-r.upg.Exit()
	}
}
