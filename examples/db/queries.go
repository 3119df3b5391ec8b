package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math/rand/v2"
	"slices"

	"github.com/httpev/httpev"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// app holds the connection pool the handlers share. pgx prepares each
// statement once per connection and reuses it (its default statement
// cache), so the handlers just name the SQL.
type app struct {
	pool *pgxpool.Pool
}

func newApp(ctx context.Context, url string) (*app, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return &app{pool: pool}, nil
}

func (a *app) close() { a.pool.Close() }

// World is one row of the World table.
type World struct {
	ID           int32 `json:"id"`
	RandomNumber int32 `json:"randomNumber"`
}

// world answers /db with one random row.
func (a *app) world(c *httpev.CGI) {
	ctx, cancel := context.WithTimeout(c.Context(), queryTimeout)
	defer cancel()
	var w World
	err := a.pool.QueryRow(ctx, "SELECT id, randomNumber FROM World WHERE id = $1", rand.IntN(10000)+1).
		Scan(&w.ID, &w.RandomNumber)
	if err != nil {
		fail(c, err)
		return
	}
	body, err := json.Marshal(w)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header(map[string][]string{"Content-Type": {"application/json"}})
	c.Write(body)
}

// Fortune is one row of the Fortune table.
type Fortune struct {
	ID      int32
	Message string
}

// fortunesPage escapes every message: one of the rows is a script tag.
var fortunesPage = template.Must(template.New("fortunes").Parse(
	`<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>` +
		`{{range .}}<tr><td>{{.ID}}</td><td>{{.Message}}</td></tr>{{end}}</table></body></html>`))

// fortunes answers /fortunes: every row plus one added now, sorted by
// message.
func (a *app) fortunes(c *httpev.CGI) {
	ctx, cancel := context.WithTimeout(c.Context(), queryTimeout)
	defer cancel()
	rows, err := a.pool.Query(ctx, "SELECT id, message FROM Fortune")
	if err != nil {
		fail(c, err)
		return
	}
	fs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Fortune])
	if err != nil {
		fail(c, err)
		return
	}
	fs = append(fs, Fortune{Message: "Additional fortune added at request time."})
	slices.SortFunc(fs, func(x, y Fortune) int { return cmp.Compare(x.Message, y.Message) })
	c.Header(map[string][]string{"Content-Type": {"text/html; charset=utf-8"}})
	if err := fortunesPage.Execute(c, fs); err != nil {
		c.Drop() // half a page is out: cut it rather than end it as if whole
	}
}
