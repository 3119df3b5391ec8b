package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var workerStarted = regexp.MustCompile(`msg="worker started" slot=(\d+) pid=(\d+)`)

// workerPIDs reads the pids the supervisor reported starting, by slot (the
// latest per slot).
func workerPIDs(out string) map[int]int {
	pids := map[int]int{}
	for _, m := range workerStarted.FindAllStringSubmatch(out, -1) {
		slot, _ := strconv.Atoi(m[1])
		pid, _ := strconv.Atoi(m[2])
		pids[slot] = pid
	}
	return pids
}

// TestProcsWorkerKilledUnderLoad runs the app with -procs 3, kills one
// worker with SIGKILL under load, and checks that no request to the other
// workers fails.
//
// How the check is honest: every client is a keep-alive connection driven
// by hand (no transport that retries or redials on its own), and each
// answer names the pid that served it, so every request is attributed to
// the worker holding its connection. A request on a connection of the
// killed worker may fail: that worker is gone mid-request (each such
// connection fails once, then dials again). Every other failure counts
// against the test: a request on a connection of a surviving worker, and
// any request on a connection dialed after the kill (the killed worker no
// longer accepts; connections waiting in the shared socket's queue go to
// the others). Then the supervisor must restart the worker, and SIGTERM to
// the supervisor must stop every process.
func TestProcsWorkerKilledUnderLoad(t *testing.T) {
	bin := buildApp(t)
	for _, threading := range []bool{false, true} {
		t.Run(fmt.Sprint("threading=", threading), func(t *testing.T) {
			killWorkerUnderLoad(t, bin, threading)
		})
	}
}

func killWorkerUnderLoad(t *testing.T, bin string, threading bool) {
	app := startApp(t, bin, "-procs", "3", fmt.Sprint("-threading=", threading))
	addr := hostPort(app.base)
	require.Eventually(t, func() bool { return len(workerPIDs(app.out.String())) == 3 }, 30*time.Second, 20*time.Millisecond,
		"three workers start")
	workers := workerPIDs(app.out.String())

	const clients = 12
	var (
		stop, killed atomic.Bool
		mu           sync.Mutex
		pinned       = map[int]int{} // connections by the worker serving them, before the kill
		served       = map[int]int{} // requests answered by each pid after the kill
		victimFails  int             // failed requests on connections of the killed worker
		otherFails   []string        // any other failed request
		victimConns  = map[*rawConn]bool{}
		total        atomic.Int64
		victim       atomic.Int64
		ready        sync.WaitGroup
		wg           sync.WaitGroup
	)
	ready.Add(clients)
	for range clients {
		wg.Go(func() {
			var c *rawConn
			first := true
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for !stop.Load() {
				if c == nil {
					var err error
					if c, err = dialRaw(addr); err != nil {
						mu.Lock()
						otherFails = append(otherFails, "dial: "+err.Error())
						mu.Unlock()
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				rep, err := c.echo()
				total.Add(1)
				mu.Lock()
				switch {
				case err != nil && c.pid != 0 && c.pid == int(victim.Load()) && !victimConns[c]:
					victimFails++
					victimConns[c] = true
				case err != nil:
					otherFails = append(otherFails, fmt.Sprintf("connection served by pid %d (victim %d, killed=%v): %v",
						c.pid, victim.Load(), killed.Load(), err))
				case killed.Load():
					served[rep.PID]++
				}
				mu.Unlock()
				if err != nil {
					c.Close()
					c = nil
					continue
				}
				if first {
					first = false
					mu.Lock()
					pinned[rep.PID]++
					mu.Unlock()
					ready.Done()
				}
			}
		})
	}
	ready.Wait()
	time.Sleep(300 * time.Millisecond) // load on every connection

	// The victim: the worker holding the most connections, so the kill
	// really cuts requests in flight.
	mu.Lock()
	t.Logf("%d connections by worker pid: %v", clients, pinned)
	vpid, most := 0, 0
	for pid, n := range pinned {
		if n > most {
			vpid, most = pid, n
		}
	}
	victim.Store(int64(vpid))
	mu.Unlock()
	require.Contains(t, workers, slotOf(workers, vpid), "connections are served by the supervisor's workers")
	killed.Store(true)
	require.NoError(t, syscall.Kill(vpid, syscall.SIGKILL))
	// The supervisor restarts the slot with a new pid.
	slot := slotOf(workers, vpid)
	require.Eventually(t, func() bool {
		p := workerPIDs(app.out.String())[slot]
		return p != 0 && p != vpid
	}, 10*time.Second, 10*time.Millisecond, "the supervisor restarts the killed worker")
	restarted := workerPIDs(app.out.String())[slot]
	time.Sleep(700 * time.Millisecond) // load on the survivors and the new worker
	stop.Store(true)
	wg.Wait()

	// The new worker serves too: fresh connections reach it.
	seenNew := false
	for i := 0; i < 200 && !seenNew; i++ {
		var wg sync.WaitGroup
		var hit atomic.Bool
		for range 6 {
			wg.Go(func() {
				c, err := dialRaw(addr)
				if err != nil {
					return
				}
				defer c.Close()
				if rep, err := c.echo(); err == nil && rep.PID == restarted {
					hit.Store(true)
				}
			})
		}
		wg.Wait()
		seenNew = hit.Load()
	}

	t.Logf("-procs 3, worker %d killed under %d keep-alive clients: %d requests; %d failed on the killed worker's %d connections, %d failed elsewhere; served after the kill per pid: %v; restarted as pid %d",
		vpid, clients, total.Load(), victimFails, most, len(otherFails), served, restarted)
	assert.Empty(t, otherFails, "no request to the other workers fails")
	assert.Positive(t, victimFails, "the kill cut the killed worker's connections (else the test proves nothing)")
	for pid := range pinned {
		if pid != vpid {
			assert.Positive(t, served[pid], "surviving worker %d kept serving its connections", pid)
		}
	}
	assert.True(t, seenNew, "the restarted worker %d serves requests", restarted)
	assert.Contains(t, app.out.String(), "worker died; restarting")

	// SIGTERM stops the supervisor and every worker, gracefully.
	require.NoError(t, app.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-app.exited:
		require.NoError(t, app.err, "supervisor's exit status after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor still running 30 s after SIGTERM")
	}
	for s, pid := range workerPIDs(app.out.String()) {
		assert.False(t, alive(pid), "worker %d (pid %d) stopped with the supervisor", s, pid)
	}
	assert.Contains(t, app.out.String(), "all workers stopped")
	assert.NotContains(t, app.out.String(), "DATA RACE")
}

func slotOf(workers map[int]int, pid int) int {
	for s, p := range workers {
		if p == pid {
			return s
		}
	}
	return -1
}
