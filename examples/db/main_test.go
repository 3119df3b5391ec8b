package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpev/httpev"
	"github.com/httpev/httpev/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve runs the program's run() until the test ends and returns its
// address.
func serve(t *testing.T, url string, threading bool) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", url, threading, func(a net.Addr) { addrc <- a.String() })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run after its context ended")
		case <-time.After(10 * time.Second):
			t.Error("run did not return within 10 s of its context ending")
		}
	})
	select {
	case a := <-addrc:
		return a
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not start listening within 30 s")
	}
	return ""
}

func get(t *testing.T, cl *http.Client, url string) (*http.Response, string) {
	t.Helper()
	res, err := cl.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

func TestPages(t *testing.T) {
	url := pgtest.Start(t)
	check, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer check.Close(context.Background())

	for _, threading := range []bool{true, false} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			base := "http://" + serve(t, url, threading)
			cl := &http.Client{Timeout: 10 * time.Second}

			// /db: a random row, the one the table holds.
			for range 5 {
				res, body := get(t, cl, base+"/db")
				require.Equal(t, 200, res.StatusCode, body)
				assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
				var w World
				require.NoError(t, json.Unmarshal([]byte(body), &w), body)
				require.True(t, w.ID >= 1 && w.ID <= 10000, "id %d", w.ID)
				var want int32
				require.NoError(t, check.QueryRow(context.Background(), "SELECT randomNumber FROM World WHERE id = $1", w.ID).Scan(&want))
				assert.Equal(t, want, w.RandomNumber, "row %d", w.ID)
			}

			// Many at once: with Threading off they wait in goroutines,
			// not one after the other on the loop.
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for range 40 {
				wg.Go(func() {
					res, err := cl.Get(base + "/db")
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						errs <- fmt.Errorf("status %d", res.StatusCode)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			// /fortunes: 12 rows and the added one, sorted by message,
			// escaped.
			res, body := get(t, cl, base+"/fortunes")
			require.Equal(t, 200, res.StatusCode, body)
			assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			rows := regexp.MustCompile(`<tr><td>(\d+)</td><td>([^<]*)</td></tr>`).FindAllStringSubmatch(body, -1)
			require.Len(t, rows, 13, body)
			assert.Equal(t, "11", rows[0][1])
			assert.Equal(t, "&lt;script&gt;alert(&#34;This should not be displayed in a browser alert box.&#34;);&lt;/script&gt;", rows[0][2])
			var ids []string
			for _, r := range rows {
				ids = append(ids, r[1])
			}
			assert.Equal(t, strings.Fields("11 4 5 2 8 0 3 7 10 6 9 1 12"), ids, "rows sorted by message")
			assert.Equal(t, "Additional fortune added at request time.", rows[5][2])
		})
	}
}

// TestDatabaseDown: a query that fails answers 500 and the connection goes
// on serving; the details stay in the log.
func TestDatabaseDown(t *testing.T) {
	url := pgtest.Start(t)
	for _, threading := range []bool{true, false} {
		t.Run(fmt.Sprintf("threading=%v", threading), func(t *testing.T) {
			a, err := newApp(context.Background(), url)
			require.NoError(t, err)
			srv, err := httpev.New(httpev.Options{TmpPath: t.TempDir()})
			require.NoError(t, err)
			defer srv.Close()
			table, err := a.handlers(threading)
			require.NoError(t, err)
			l, err := srv.ListenHandlers("127.0.0.1:0", table, httpev.ListenOptions{Threading: threading})
			require.NoError(t, err)
			a.close() // every query fails from now on

			nc, err := net.Dial("tcp", l.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(nc)
			for _, path := range []string{"/db", "/fortunes", "/"} {
				fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
				res, err := http.ReadResponse(br, nil)
				require.NoError(t, err, path)
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if path == "/" {
					assert.Equal(t, 200, res.StatusCode, "the connection serves on after two 500s")
					continue
				}
				assert.Equal(t, 500, res.StatusCode, path)
				assert.Equal(t, "database error\n", string(b), path)
			}
		})
	}
}
