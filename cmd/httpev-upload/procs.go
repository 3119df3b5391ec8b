package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// With -procs N the process becomes a supervisor: it holds the listening
// sockets, serves nothing, and runs N copies of itself as workers that all
// accept from those same sockets (passed as descriptors 3 and up, the
// pre-forking of the original's fork_hook; Go cannot fork, so it re-execs).
// One shared socket rather than SO_REUSEPORT because with one socket per
// process a dying worker takes the connections queued on its socket with
// it, while on a shared socket they wait for the other workers. With
// Threading off every callback of a process runs on its one loop goroutine,
// so this is how the app uses every core for callbacks.

// restartDelay bounds how fast a crashing worker is restarted: at first
// after minRestartDelay, doubling while it keeps dying young (up to
// maxRestartDelay), so a worker that cannot start does not spin a core.
const (
	minRestartDelay = 100 * time.Millisecond
	maxRestartDelay = 5 * time.Second
	// healthyAfter is how long a worker must run for its death to count as
	// an accident rather than a crash loop.
	healthyAfter = 5 * time.Second
)

// supervisor runs and restarts the workers. It owns the listeners (for the
// lifetime of run) and each slot's current process (through its goroutine).
type supervisor struct {
	log   *slog.Logger
	bin   string
	args  []string
	files []*os.File // the sockets, dup'ed once and passed to every worker
	out   io.Writer
	grace time.Duration // the workers' own -grace, plus a margin, before SIGKILL
}

// supervise serves the listeners with procs worker processes until ctx ends,
// then stops them gracefully (SIGTERM: each finishes its requests in flight
// within its -grace) and returns once all have exited.
func supervise(ctx context.Context, cfg config, args []string, lns []net.Listener, out io.Writer, log *slog.Logger) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("-procs: finding this program to start workers: %w", err)
	}
	files, err := listenerFiles(lns)
	if err != nil {
		return fmt.Errorf("-procs: %w", err)
	}
	defer closeFiles(files)
	s := &supervisor{log: log, bin: bin, args: args, files: files, out: out, grace: cfg.grace + 5*time.Second}
	var wg sync.WaitGroup
	for slot := range cfg.procs {
		wg.Go(func() { s.run(ctx, slot) })
	}
	wg.Wait()
	log.Info("all workers stopped")
	return nil
}

// run keeps slot's worker alive until ctx ends.
func (s *supervisor) run(ctx context.Context, slot int) {
	delay := minRestartDelay
	for {
		started := time.Now()
		err := s.once(ctx, slot)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) >= healthyAfter {
			delay = minRestartDelay
		}
		s.log.Warn("worker died; restarting", "slot", slot, "err", err, "after", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRestartDelay)
	}
}

// once starts slot's worker and waits for it to exit; when ctx ends first it
// asks the worker to stop, and kills it if it outlasts its grace period.
func (s *supervisor) once(ctx context.Context, slot int) error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = append(os.Environ(),
		workerEnv+"="+strconv.Itoa(len(s.files)),
		workerSlotEnv+"="+strconv.Itoa(slot))
	cmd.ExtraFiles = s.files
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = workerAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	s.log.Info("worker started", "slot", slot, "pid", cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-ctx.Done():
	}
	if err := stopWorker(cmd.Process); err != nil {
		s.log.Warn("stopping worker", "slot", slot, "err", err)
	}
	select {
	case err := <-exited:
		return err
	case <-time.After(s.grace):
		s.log.Error("worker outlived its grace period; killing it", "slot", slot, "pid", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		return <-exited
	}
}
