package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The TechEmpower Framework Benchmarks test types, shared by every server
// so that they differ only in the HTTP library: the same pool, the same
// prepared statements, the same encoders. Requirements followed
// (TechEmpower's "Framework Tests Overview"): every request does its own
// queries (no cache of rows), ids are random in 1..10000, queries and
// updates clamp their count to 1..500, fortunes adds one row at request
// time, sorts by message and HTML-escapes, updates read every row before
// writing it, and every response carries Server and Date.

const (
	helloWorld   = "Hello, World!"
	worldRows    = 10000
	extraFortune = "Additional fortune added at request time."

	stmtWorld    = "world"
	stmtFortunes = "fortunes"
	stmtUpdate   = "update"
)

// poolSize is the same for every server: the database, not the pool, must
// be the limit they share. DB_POOL overrides it.
var poolSize = 16

// world is one World row; its JSON form is {"id":N,"randomNumber":N}.
type world struct {
	ID           int32 `json:"id"`
	RandomNumber int32 `json:"randomNumber"`
}

type fortune struct {
	ID      int32
	Message string
}

// message is the json test's body.
type message struct {
	Message string `json:"message"`
}

// db is the pool every server queries, nil when DATABASE_URL is unset (the
// database routes then answer 503).
type db struct {
	pool *pgxpool.Pool
}

// openDB connects to DATABASE_URL with a pool whose connections prepare
// the three statements once, on connect.
func openDB(ctx context.Context) (*db, error) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return &db{}, nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if v := os.Getenv("DB_POOL"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("DB_POOL=%q: want a positive number", v)
		}
		poolSize = n
	}
	cfg.MaxConns = int32(poolSize)
	cfg.MinConns = int32(poolSize)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		for name, sql := range map[string]string{
			stmtWorld:    "SELECT id, randomNumber FROM World WHERE id = $1",
			stmtFortunes: "SELECT id, message FROM Fortune",
			// One statement for the whole batch (TechEmpower allows
			// batched updates); ids sorted by the caller so that
			// concurrent batches lock rows in the same order.
			stmtUpdate: "UPDATE World SET randomNumber = v.r FROM " +
				"(SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v WHERE World.id = v.id",
		} {
			if _, err := c.Prepare(ctx, name, sql); err != nil {
				return fmt.Errorf("prepare %s: %w", name, err)
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return &db{pool: pool}, nil
}

func (d *db) close() {
	if d.pool != nil {
		d.pool.Close()
	}
}

// errNoDB answers the database routes of a server started without
// DATABASE_URL.
var errNoDB = fmt.Errorf("no database: set DATABASE_URL")

func randomID() int32 { return rand.Int32N(worldRows) + 1 }

// queriesParam is the queries and updates tests' count: a missing, bad or
// out-of-range value is clamped to 1..500, as the rules require.
func queriesParam(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	return min(n, 500)
}

// world reads one random row.
func (d *db) world(ctx context.Context) (world, error) {
	if d.pool == nil {
		return world{}, errNoDB
	}
	w := world{ID: randomID()}
	err := d.pool.QueryRow(ctx, stmtWorld, w.ID).Scan(&w.ID, &w.RandomNumber)
	return w, err
}

// worlds reads n random rows, one query each (the queries test).
func (d *db) worlds(ctx context.Context, n int) ([]world, error) {
	if d.pool == nil {
		return nil, errNoDB
	}
	ws := make([]world, n)
	// One pooled connection for the whole request, as TechEmpower's Go
	// implementations do; the queries stay one round trip each.
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	for i := range ws {
		if err := c.QueryRow(ctx, stmtWorld, randomID()).Scan(&ws[i].ID, &ws[i].RandomNumber); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// update reads n random rows one by one, gives each a new random number
// and writes them back in one batched statement.
func (d *db) update(ctx context.Context, n int) ([]world, error) {
	ws, err := d.worlds(ctx, n)
	if err != nil {
		return nil, err
	}
	for i := range ws {
		ws[i].RandomNumber = randomID()
	}
	if err := d.write(ctx, ws); err != nil {
		return nil, err
	}
	return ws, nil
}

// write stores ws's numbers in one statement. A random batch can name a
// row twice, and PostgreSQL applies an unpredictable one of the joined
// values when UPDATE ... FROM matches a row more than once; the answer
// lists the row's numbers in order, so the table must end with the last.
// Hence one value per id, the last, ids ascending so that concurrent
// batches lock rows in the same order.
func (d *db) write(ctx context.Context, ws []world) error {
	sorted := slices.Clone(ws)
	// Stable, so that a repeated id's entries keep the answer's order.
	slices.SortStableFunc(sorted, func(a, b world) int { return cmp.Compare(a.ID, b.ID) })
	ids := make([]int32, 0, len(sorted))
	nums := make([]int32, 0, len(sorted))
	for i, w := range sorted {
		if i+1 < len(sorted) && sorted[i+1].ID == w.ID {
			continue // a later entry names the same row
		}
		ids = append(ids, w.ID)
		nums = append(nums, w.RandomNumber)
	}
	_, err := d.pool.Exec(ctx, stmtUpdate, ids, nums)
	return err
}

// fortunes reads every Fortune row, adds the request-time one and sorts
// them by message.
func (d *db) fortunes(ctx context.Context) ([]fortune, error) {
	if d.pool == nil {
		return nil, errNoDB
	}
	rows, err := d.pool.Query(ctx, stmtFortunes)
	if err != nil {
		return nil, err
	}
	fs := make([]fortune, 0, 16)
	var f fortune
	_, err = pgx.ForEachRow(rows, []any{&f.ID, &f.Message}, func() error {
		fs = append(fs, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	fs = append(fs, fortune{Message: extraFortune})
	slices.SortFunc(fs, func(a, b fortune) int { return cmp.Compare(a.Message, b.Message) })
	return fs, nil
}

// appendFortunes renders the fortunes page TechEmpower checks.
func appendFortunes(dst []byte, fs []fortune) []byte {
	dst = append(dst, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"...)
	for _, f := range fs {
		dst = append(dst, "<tr><td>"...)
		dst = strconv.AppendInt(dst, int64(f.ID), 10)
		dst = append(dst, "</td><td>"...)
		dst = append(dst, html.EscapeString(f.Message)...)
		dst = append(dst, "</td></tr>"...)
	}
	return append(dst, "</table></body></html>"...)
}

// jsonMessage encodes the json test's object, freshly per request.
func jsonMessage() []byte {
	b, _ := json.Marshal(message{Message: helloWorld})
	return b
}

// mustJSON encodes rows for the database tests.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // worlds always encode
	}
	return b
}

// sleepFor is the /sleep route's wait: a database call without a database.
const sleepFor = time.Millisecond

// route is one of the TechEmpower paths (or /sleep).
type route int

const (
	rNone route = iota
	rPlaintext
	rJSON
	rDB
	rQueries
	rFortunes
	rUpdates
	rSleep
)

func routeOf(path string) route {
	switch path {
	case "/plaintext":
		return rPlaintext
	case "/json":
		return rJSON
	case "/db":
		return rDB
	case "/queries":
		return rQueries
	case "/fortunes":
		return rFortunes
	case "/updates":
		return rUpdates
	case "/sleep":
		return rSleep
	}
	return rNone
}

// blocks reports whether the route waits (on the database or a timer):
// the routes a Threading-off callback hands to a goroutine.
func (r route) blocks() bool { return r >= rDB }

// usesDB reports whether the route queries the database.
func (r route) usesDB() bool { return r >= rDB && r <= rUpdates }

// Content types of the answers.
const (
	ctText = "text/plain"
	ctJSON = "application/json"
	ctHTML = "text/html; charset=utf-8"
)

// answer computes a route's response: the part every server shares, so
// that the servers differ only in how they receive the request and send
// this. queries is the raw value of the queries parameter.
func (d *db) answer(ctx context.Context, r route, queries string) (ctype string, body []byte, err error) {
	switch r {
	case rPlaintext:
		return ctText, []byte(helloWorld), nil
	case rJSON:
		return ctJSON, jsonMessage(), nil
	case rDB:
		w, err := d.world(ctx)
		if err != nil {
			return "", nil, err
		}
		return ctJSON, mustJSON(w), nil
	case rQueries:
		ws, err := d.worlds(ctx, queriesParam(queries))
		if err != nil {
			return "", nil, err
		}
		return ctJSON, mustJSON(ws), nil
	case rUpdates:
		ws, err := d.update(ctx, queriesParam(queries))
		if err != nil {
			return "", nil, err
		}
		return ctJSON, mustJSON(ws), nil
	case rFortunes:
		fs, err := d.fortunes(ctx)
		if err != nil {
			return "", nil, err
		}
		return ctHTML, appendFortunes(make([]byte, 0, 1536), fs), nil
	case rSleep:
		time.Sleep(sleepFor)
		return ctText, []byte(helloWorld), nil
	}
	return "", nil, fmt.Errorf("no route")
}
