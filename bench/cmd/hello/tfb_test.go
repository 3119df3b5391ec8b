package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/httpev/httpev/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// start runs one server until the test ends and returns its base URL.
func start(t *testing.T, kind string, d *db) string {
	t.Helper()
	s, err := newServer(kind, t.TempDir(), d)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		if as, ok := s.(addrServer); ok {
			done <- as.serveAddr(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a.String() })
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			done <- err
			return
		}
		addrc <- ln.Addr().String()
		done <- s.serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop within 10 s", kind)
		}
	})
	select {
	case a := <-addrc:
		return "http://" + a
	case err := <-done:
		t.Fatalf("%s: %v", kind, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start within 10 s", kind)
	}
	return ""
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	res, err := cl.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode, "%s: %s", url, b)
	assert.NotEmpty(t, res.Header.Get("Server"), "%s: Server header", url)
	_, err = http.ParseTime(res.Header.Get("Date"))
	assert.NoError(t, err, "%s: Date header", url)
	return res, string(b)
}

// testDB starts the private PostgreSQL (skipping when it is not
// installed) and opens the servers' pool on it, closed when the test ends.
func testDB(t *testing.T) (*db, string) {
	t.Helper()
	url := pgtest.Start(t)
	t.Setenv("DATABASE_URL", url)
	d, err := openDB(context.Background())
	require.NoError(t, err)
	t.Cleanup(d.close)
	return d, url
}

// TestTechEmpowerRoutes checks every server's answers against the rules
// the benchmark claims to follow: exact bodies and content types, random
// rows that are the table's, counts clamped to 1..500, the fortunes page
// sorted and escaped with the added row, updates that reach the table.
func TestTechEmpowerRoutes(t *testing.T) {
	d, url := testDB(t)
	check, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer check.Close(context.Background())
	rowOf := func(id int32) int32 {
		var n int32
		require.NoError(t, check.QueryRow(context.Background(), "SELECT randomNumber FROM World WHERE id = $1", id).Scan(&n))
		return n
	}
	fortuneRow := regexp.MustCompile(`<tr><td>(\d+)</td><td>([^<]*)</td></tr>`)

	for _, kind := range []string{"httpev", "httpev-serial", "httpev-handler", "nethttp", "fasthttp"} {
		t.Run(kind, func(t *testing.T) {
			base := start(t, kind, d)

			res, body := get(t, base+"/plaintext")
			assert.Equal(t, helloWorld, body)
			assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"), res.Header.Get("Content-Type"))

			res, body = get(t, base+"/json")
			assert.Equal(t, `{"message":"Hello, World!"}`, body)
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))

			res, body = get(t, base+"/db")
			assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
			var w world
			require.NoError(t, json.Unmarshal([]byte(body), &w), body)
			assert.True(t, w.ID >= 1 && w.ID <= worldRows, "id %d", w.ID)
			assert.Equal(t, rowOf(w.ID), w.RandomNumber)

			for q, n := range map[string]int{"20": 20, "1": 1, "0": 1, "foo": 1, "": 1, "501": 500} {
				_, body = get(t, base+"/queries?queries="+q)
				var ws []world
				require.NoError(t, json.Unmarshal([]byte(body), &ws), body)
				assert.Len(t, ws, n, "queries=%q", q)
			}

			_, body = get(t, base+"/updates?queries=5")
			var ws []world
			require.NoError(t, json.Unmarshal([]byte(body), &ws), body)
			require.Len(t, ws, 5)
			last := map[int32]int32{} // a repeated id keeps its last number
			for _, w := range ws {
				last[w.ID] = w.RandomNumber
			}
			for id, n := range last {
				assert.Equal(t, n, rowOf(id), "row %d written", id)
			}

			res, body = get(t, base+"/fortunes")
			assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			assert.True(t, strings.HasPrefix(body, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"), body)
			assert.True(t, strings.HasSuffix(body, "</table></body></html>"), body)
			var ids []string
			for _, r := range fortuneRow.FindAllStringSubmatch(body, -1) {
				ids = append(ids, r[1])
			}
			assert.Equal(t, strings.Fields("11 4 5 2 8 0 3 7 10 6 9 1 12"), ids, "sorted by message, with the added row")
			assert.Contains(t, body, "<tr><td>11</td><td>&lt;script&gt;alert(&#34;This should not be displayed in a browser alert box.&#34;);&lt;/script&gt;</td></tr>")
			assert.Contains(t, body, "<tr><td>12</td><td>フレームワークのベンチマーク</td></tr>")

			_, body = get(t, base+"/sleep")
			assert.Equal(t, helloWorld, body)
		})
	}
}

// TestNoDatabase: without DATABASE_URL the database routes answer 500
// and the others still work.
func TestNoDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	d, err := openDB(context.Background())
	require.NoError(t, err)
	for _, kind := range []string{"httpev", "httpev-serial", "httpev-handler", "nethttp", "fasthttp"} {
		t.Run(kind, func(t *testing.T) {
			base := start(t, kind, d)
			res, err := http.Get(base + "/db")
			require.NoError(t, err)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			assert.Equal(t, 500, res.StatusCode, string(b))
			assert.Contains(t, string(b), "DATABASE_URL")
			_, body := get(t, base+"/json")
			assert.Equal(t, `{"message":"Hello, World!"}`, body)
		})
	}
}

// TestUpdateRepeatedRow: a batch that names a row more than once leaves
// the table with the row's last number, the one the answer ends with.
// PostgreSQL applies an unpredictable one of the values when an UPDATE's
// join matches a row twice, so the batch must carry one value per row.
func TestUpdateRepeatedRow(t *testing.T) {
	d, _ := testDB(t)
	ctx := context.Background()
	batch := []world{{7, 101}, {3, 301}, {7, 102}, {9, 901}, {7, 103}, {3, 302}}
	require.NoError(t, d.write(ctx, batch))
	for id, want := range map[int32]int32{7: 103, 3: 302, 9: 901} {
		var n int32
		require.NoError(t, d.pool.QueryRow(ctx, "SELECT randomNumber FROM World WHERE id = $1", id).Scan(&n))
		assert.Equal(t, want, n, "row %d", id)
	}
}
