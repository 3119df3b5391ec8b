//go:build soak

package httpev

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The long runs, behind the soak build tag: scripts/soak runs them and
// prints their tables. SOAK_DURATION sets the mixed load's length (default
// 60s); SOAK_REPORT names a file the Markdown tables are appended to;
// SOAK_HEAPPROFILE a file for a heap profile taken when the load is over.

func soakDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SOAK_DURATION")); err == nil && d > 0 {
		return d
	}
	return 60 * time.Second
}

// report logs a Markdown table and appends it to SOAK_REPORT.
func report(t *testing.T, text string) {
	t.Log("\n" + text)
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		defer f.Close()
		fmt.Fprintln(f, text)
	}
}

// memSnapshot is the heap and goroutines after collecting garbage.
type memSnapshot struct {
	heapAlloc, heapInuse uint64
	goroutines           int
}

func snapshot() memSnapshot {
	// Two collections empty the sync.Pools (the first moves them to the
	// victim cache, the second drops them).
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSnapshot{m.HeapAlloc, m.HeapInuse, runtime.NumGoroutine()}
}

// peakSampler records the highest HeapInuse and goroutine count seen.
type peakSampler struct {
	heap  atomic.Uint64
	gs    atomic.Int64
	stop  chan struct{}
	ended chan struct{}
}

func samplePeaks(every time.Duration) *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(p.ended)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > p.heap.Load() {
				p.heap.Store(m.HeapInuse)
			}
			if g := int64(runtime.NumGoroutine()); g > p.gs.Load() {
				p.gs.Store(g)
			}
			select {
			case <-p.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return p
}

func (p *peakSampler) done() (heap uint64, goroutines int64) {
	close(p.stop)
	<-p.ended
	return p.heap.Load(), p.gs.Load()
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestSoakMixedLoad: the mixed load (small GETs, urlencoded POSTs, 1 MiB
// uploads) on a Threading-off and a Threading-on listener for
// SOAK_DURATION: zero errors, and heap and goroutines back where they
// started once the clients are gone.
func TestSoakMixedLoad(t *testing.T) {
	leakCheck(t)
	dur := soakDuration()
	tmp := t.TempDir()
	reqs := newLoadRequests(t, false)
	srv, l1, _ := testServer(t, Options{TmpPath: tmp}, ListenOptions{}, loadHandler(reqs.uploadSize))
	l2, err := srv.Listen("127.0.0.1:0", loadHandler(reqs.uploadSize), ListenOptions{Threading: true})
	require.NoError(t, err)
	// Two requests on one keep-alive connection start what the server
	// keeps for as long as it runs (the idle-connection poller and its
	// watcher), so that the goroutine count below compares like with like.
	warm, wbr := rawConn(t, l2)
	for i := range 2 {
		_, err := io.WriteString(warm, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, _ := readResponse(t, wbr, "GET")
		require.Equal(t, 200, resp.StatusCode, "warm-up request %d", i)
	}
	warm.Close()
	requireNoConns(t, srv, 10*time.Second)
	start := snapshot()

	type key struct {
		threading bool
		kind      loadKind
	}
	var mu sync.Mutex
	lat := map[key][]time.Duration{}
	errs := map[key]int{}
	var firstErrs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 6 // per listener
	for i, l := range []*PortListener{l1, l2} {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadClient(l.Addr().String(), reqs, uint64(i*100+w), stop, func(r loadRecord) {
					k := key{i == 1, r.kind}
					d := time.Since(r.started)
					mu.Lock()
					defer mu.Unlock()
					if r.out != outOK {
						errs[k]++
						if len(firstErrs) < 10 {
							firstErrs = append(firstErrs, fmt.Sprintf("%s threading=%v: %s: %s", r.kind, k.threading, outcomeNames[r.out], r.detail))
						}
						return
					}
					lat[k] = append(lat[k], d)
				})
			}()
		}
	}
	peaks := samplePeaks(100 * time.Millisecond)
	began := time.Now()
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	elapsed := time.Since(began)
	peakHeap, peakGs := peaks.done()

	var b strings.Builder
	fmt.Fprintf(&b, "### Mixed load, %v, %d keep-alive clients per listener\n\n", elapsed.Round(time.Second), workers)
	b.WriteString("| threading | request | count | errors | req/s | p50 | p99 |\n|---|---|---:|---:|---:|---:|---:|\n")
	total, totalErrs := 0, 0
	for _, threading := range []bool{false, true} {
		for _, kind := range []loadKind{kindGet, kindForm, kindUpload} {
			k := key{threading, kind}
			n := len(lat[k])
			total += n
			totalErrs += errs[k]
			fmt.Fprintf(&b, "| %v | %s | %d | %d | %.0f | %v | %v |\n", threading, kind, n, errs[k],
				float64(n)/elapsed.Seconds(), percentile(lat[k], 0.5).Round(10*time.Microsecond),
				percentile(lat[k], 0.99).Round(10*time.Microsecond))
		}
	}
	fmt.Fprintf(&b, "| | **total** | **%d** | **%d** | **%.0f** | | |\n\n", total, totalErrs, float64(total)/elapsed.Seconds())
	lat = nil // the test's own latencies (8 bytes a request) are not the server's heap

	requireNoConns(t, srv, 10*time.Second)
	// A plain loop: assert.Eventually's own goroutine would be counted.
	end := snapshot()
	for deadline := time.Now().Add(10 * time.Second); end.goroutines > start.goroutines && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		end = snapshot()
	}
	if path := os.Getenv("SOAK_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, pprof.WriteHeapProfile(f))
		f.Close()
	}

	b.WriteString("| memory | start | peak | end |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| heap in use | %s | %s | %s |\n", mb(start.heapInuse), mb(peakHeap), mb(end.heapInuse))
	fmt.Fprintf(&b, "| heap live (after GC) | %s | | %s |\n", mb(start.heapAlloc), mb(end.heapAlloc))
	fmt.Fprintf(&b, "| goroutines | %d | %d | %d |\n", start.goroutines, peakGs, end.goroutines)
	report(t, b.String())

	assert.Zero(t, totalErrs, "errors: %v", firstErrs)
	assert.Greater(t, total, 0)
	assert.LessOrEqual(t, end.goroutines, start.goroutines, "goroutines back to where they started")
	assert.Less(t, end.heapAlloc, start.heapAlloc+1<<20, "live heap back to where it started (within 1 MB)")
	assert.Empty(t, tmpEntries(t, tmp), "no temp file left")
}

// TestSoakHostile: 1,000 slowloris connections and 1,000 slow readers at
// once while a normal client keeps being served; every hostile connection
// is dropped by its timeout and the server ends with none.
func TestSoakHostile(t *testing.T) {
	leakCheck(t)
	const n = 1000
	const timeout, wto = 3 * time.Second, 10 * time.Second // wto: longer than opening every slow reader takes
	var timedOut, otherErr, streaming atomic.Int32
	piece := strings.Repeat("x", 32<<10)
	srv, l, base := testServer(t, Options{WriteTimeout: wto}, ListenOptions{Timeout: timeout, Threading: true}, func(c *CGI) {
		if c.Path() != "/big" {
			c.Print("ok")
			return
		}
		streaming.Add(1)
		c.Buffer().OnError(func(err error) {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				timedOut.Add(1)
			} else {
				otherErr.Add(1)
			}
		})
		c.Stream(func(c *CGI) bool { c.Print(piece); return true })
	})
	base0 := snapshot()
	addr := l.Addr().String()

	// The normal client: a GET every 50 ms for the whole run.
	var latMu sync.Mutex
	var lat []time.Duration
	var normalErrs atomic.Int32
	stopNormal := make(chan struct{})
	normalDone := make(chan struct{})
	go func() {
		defer close(normalDone)
		hc := client()
		defer hc.CloseIdleConnections()
		for {
			select {
			case <-stopNormal:
				return
			case <-time.After(50 * time.Millisecond):
			}
			t0 := time.Now()
			resp, err := hc.Get(base + "/")
			if err != nil {
				normalErrs.Add(1)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "ok" {
				normalErrs.Add(1)
				continue
			}
			latMu.Lock()
			lat = append(lat, time.Since(t0))
			latMu.Unlock()
		}
	}()

	peaks := samplePeaks(100 * time.Millisecond)
	began := time.Now()
	// Slow readers first: ask for an endless stream and never read. While
	// they fill their socket buffers the machine is busy, and opening them
	// took 3-4 s on the 2-core development machine on a slow afternoon:
	// opened first, they cannot push the slowloris connections past their
	// Timeout before all are held.
	readers := slowReaders(t, addr, n)
	// Slowloris: part of a head, then a byte a second for 5 s (longer than
	// Timeout in all, but never Timeout apart), then silence.
	loris := slowClients(t, addr, n, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	stop := make(chan struct{})
	trickled := trickle(loris, time.Second, 5, stop)
	var withAll memSnapshot
	require.Eventually(t, func() bool { return serverConns(srv) >= 2*n-10 }, 30*time.Second, 50*time.Millisecond)
	withAll = snapshot()
	heldConns := serverConns(srv)
	trickled.Wait()
	close(stop)

	got408, closed := 0, 0
	var wg sync.WaitGroup
	var rmu sync.Mutex
	for _, c := range loris {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, ok := readStatus(c)
			rmu.Lock()
			defer rmu.Unlock()
			if status == 408 {
				got408++
			}
			if ok {
				closed++
			}
		}()
	}
	wg.Wait()
	// All hostile connections gone: only the normal client's may remain.
	for deadline := time.Now().Add(60 * time.Second); serverConns(srv) > 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	droppedAfter := time.Since(began)
	close(stopNormal)
	<-normalDone
	requireNoConns(t, srv, 5*time.Second)
	peakHeap, peakGs := peaks.done()
	for _, c := range append(loris, readers...) {
		c.Close()
	}
	end := snapshot()

	latMu.Lock()
	served := len(lat)
	p50, p99, worst := percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1)
	latMu.Unlock()
	perConn := uint64(0)
	if withAll.heapInuse > base0.heapInuse {
		perConn = (withAll.heapInuse - base0.heapInuse) / uint64(heldConns)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %d slowloris + %d slow readers (Timeout %v, WriteTimeout %v)\n\n", n, n, timeout, wto)
	b.WriteString("| measure | value |\n|---|---:|\n")
	fmt.Fprintf(&b, "| connections held at once | %d |\n", heldConns)
	fmt.Fprintf(&b, "| slowloris answered 408 and closed | %d / %d (closed %d) |\n", got408, n, closed)
	fmt.Fprintf(&b, "| slow readers dropped by WriteTimeout | %d / %d (other errors %d) |\n", timedOut.Load(), n, otherErr.Load())
	fmt.Fprintf(&b, "| all dropped after | %v |\n", droppedAfter.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "| normal GETs served / failed | %d / %d |\n", served, normalErrs.Load())
	fmt.Fprintf(&b, "| normal GET p50 / p99 / worst | %v / %v / %v |\n", p50.Round(10*time.Microsecond),
		p99.Round(10*time.Microsecond), worst.Round(10*time.Microsecond))
	fmt.Fprintf(&b, "| heap in use: before / all held / peak / end | %s / %s / %s / %s |\n",
		mb(base0.heapInuse), mb(withAll.heapInuse), mb(peakHeap), mb(end.heapInuse))
	fmt.Fprintf(&b, "| heap per hostile connection | %.1f KB |\n", float64(perConn)/1024)
	fmt.Fprintf(&b, "| goroutines: before / all held / peak / end | %d / %d / %d / %d |\n",
		base0.goroutines, withAll.goroutines, peakGs, end.goroutines)
	report(t, b.String())

	assert.Equal(t, n, got408, "every slowloris connection answered 408")
	assert.Equal(t, n, closed)
	assert.Equal(t, int32(n), timedOut.Load(), "every slow reader dropped by WriteTimeout")
	assert.Zero(t, normalErrs.Load(), "the normal client never failed")
	assert.Less(t, p99, 2*time.Second, "the normal client is served promptly")
}
