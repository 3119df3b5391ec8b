// Command idleconns opens N keep-alive connections to a server, sends one
// GET on each and reads its response, then holds them all open and idle so
// the server's memory per idle connection can be measured.
//
// It prints "ready open=<n> failed=<n>" once every connection has been
// answered, then holds them until SIGTERM/SIGINT or -hold has passed, and
// exits. It stops by itself, so a killed script leaves nothing running.
//
// With -every D each connection sends a GET every D while held (starts
// spread over D), as clients with think time do, which is what the
// poller's idle grace is for (internal/poller/policy_linux.go, rule 5);
// it then prints "done requests=<n> failed=<n>" at the end.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 10000, "connections to open")
	parallel := flag.Int("parallel", 64, "connections being opened at once")
	hold := flag.Duration("hold", 2*time.Minute, "longest time to hold the connections")
	every := flag.Duration("every", 0, "while held, send a GET on each connection this often (0: none)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	req := []byte("GET / HTTP/1.1\r\nHost: " + *addr + "\r\nUser-Agent: idleconns\r\n\r\n")
	conns := make([]net.Conn, *n)
	var failed atomic.Int64
	var firstErr sync.Once
	work := make(chan int)
	var wg sync.WaitGroup
	for range *parallel {
		wg.Go(func() {
			for i := range work {
				c, err := open(*addr, req)
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { log.Printf("idleconns: %v", err) })
					continue
				}
				conns[i] = c
			}
		})
	}
	start := time.Now()
	for i := range conns {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Printf("ready open=%d failed=%d elapsed=%s\n", int64(*n)-failed.Load(), failed.Load(),
		time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()
	if *every > 0 {
		var sent, bad atomic.Int64
		var tg sync.WaitGroup
		for i, c := range conns {
			if c == nil {
				continue
			}
			delay := *every * time.Duration(i) / time.Duration(len(conns))
			tg.Go(func() { think(ctx, c, req, delay, *every, &sent, &bad) })
		}
		tg.Wait()
		fmt.Printf("done requests=%d failed=%d\n", sent.Load(), bad.Load())
	}
	<-ctx.Done()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// open dials, sends one request and reads the whole response, leaving the
// connection idle and keep-alive.
func open(addr string, req []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil && (resp.StatusCode != 200 || resp.Close) {
			err = fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// think sends a request on c every period, after delay, until ctx ends,
// counting the answered ones in sent and failures in bad (a failed
// connection stops).
func think(ctx context.Context, c net.Conn, req []byte, delay, period time.Duration, sent, bad *atomic.Int64) {
	t := time.NewTimer(delay)
	defer t.Stop()
	br := bufio.NewReaderSize(c, 1024)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(period)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			bad.Add(1)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		if err != nil {
			bad.Add(1)
			return
		}
		sent.Add(1)
	}
}
