package httpev

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/poller"
)

// BenchmarkContextWatch: callbacks that wait on their request's context
// (a database call) for 2 ms, 8 keep-alive connections at once. resident:
// the poller keeps every connection resident (no back-off), so each
// request is handed over after a tick and watched from then on; nopark:
// a goroutine per connection (NoIdlePark). cpu-us/req is the process's
// CPU (server and the raw-socket clients) per request.
func BenchmarkContextWatch(b *testing.B) {
	for _, mode := range []string{"resident", "nopark"} {
		b.Run(mode, func(b *testing.B) {
			srv, l, _ := testServer(b, Options{NoIdlePark: mode == "nopark"}, ListenOptions{Threading: true}, func(c *CGI) {
				ctx := c.Context()
				t := time.NewTimer(2 * time.Millisecond)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
				c.Print("ok")
			})
			if mode == "resident" {
				tunePoller(srv, func(t *poller.Tuning) { t.Slow = time.Hour })
			}
			const conns = 8
			var wg sync.WaitGroup
			per := b.N/conns + 1
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			for range conns {
				wg.Go(func() {
					nc, err := net.Dial("tcp", l.Addr().String())
					if err != nil {
						b.Error(err)
						return
					}
					defer nc.Close()
					br := bufio.NewReader(nc)
					for range per {
						io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
						res, err := http.ReadResponse(br, nil)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Microseconds())/float64(per*conns), "cpu-us/req")
			_ = fmt.Sprint()
		})
	}
}
