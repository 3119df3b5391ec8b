package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sseEvent struct{ name, data string }

// openStream subscribes to /progress?id=id and returns its events; the
// channel closes when the server ends the stream.
func openStream(t *testing.T, base, id string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/progress?id="+id, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	events := make(chan sseEvent, 1024)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return events
}

func next(t *testing.T, events <-chan sseEvent) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-events:
		return ev, ok
	case <-time.After(20 * time.Second):
		t.Fatal("no event from the progress stream")
		return sseEvent{}, false
	}
}

// eventNames reads a stream to its end and returns the names of its events.
func eventNames(t *testing.T, events <-chan sseEvent) []string {
	t.Helper()
	var names []string
	for {
		ev, ok := next(t, events)
		if !ok {
			return names
		}
		names = append(names, ev.name)
	}
}

func TestProgressStream(t *testing.T) {
	for _, threading := range []string{"false", "true"} {
		t.Run("threading="+threading, func(t *testing.T) {
			app := startApp(t, "-threading="+threading)
			events := openStream(t, app.base, "page1")
			other := openStream(t, app.base, "page2")
			data := randomBytes(t, 2<<20)
			saved := upload(t, app.base, "?id=page1&key=u7", part{field: "file", name: "p.bin", data: data})
			require.Len(t, saved, 1)

			var last int64
			sawFiles := false
			for done := false; !done || !sawFiles; {
				ev, ok := next(t, events)
				require.True(t, ok, "stream ended early")
				switch ev.name {
				case "progress":
					p := decode[progressEvent](t, []byte(ev.data))
					assert.Equal(t, "u7", p.Key)
					assert.Equal(t, "p.bin", p.Name)
					assert.GreaterOrEqual(t, p.Bytes, last, "bytes on disk only grow")
					last, done = p.Bytes, p.Done
				case "files":
					sawFiles = true
				}
			}
			assert.Equal(t, int64(len(data)), last)

			// Another page sees no progress of this upload, only that the
			// file list changed.
			ev, ok := next(t, other)
			require.True(t, ok)
			assert.Equal(t, "files", ev.name)
		})
	}
}

func TestProgressNeedsAnID(t *testing.T) {
	app := startApp(t)
	for _, q := range []string{"", "?id=", "?id=a%20b", "?id=" + strings.Repeat("x", 65)} {
		status, _, _ := do(t, newRequest(t, "GET", app.base+"/progress"+q, nil))
		assert.Equal(t, http.StatusBadRequest, status, q)
	}
}

// TestGracefulShutdownDuringUpload cancels run's context (what SIGINT
// does) while an 8 MiB upload is half sent: the server stops accepting, the
// upload still completes and is saved, the page's progress stream ends once
// it has reported it, run returns nil, and no temp file is left.
func TestGracefulShutdownDuringUpload(t *testing.T) {
	for _, mode := range [][]string{
		{"-threading=false", "-io", "async"},
		{"-threading=true", "-io", "async"},
		{"-threading=false", "-io", "blocking"},
		{"-threading=true", "-io", "blocking"},
	} {
		t.Run(strings.Join(mode, " "), func(t *testing.T) {
			app := startApp(t, mode...)
			idle := openStream(t, app.base, "idle")
			events := openStream(t, app.base, "busy")
			data := randomBytes(t, 8<<20)
			ct, body := multipartBody(t, part{field: "file", name: "inflight.bin", data: data})
			pr, pw := io.Pipe()
			req := newRequest(t, "POST", app.base+"/files?id=busy&key=k1", pr)
			req.Header.Set("Content-Type", ct)
			req.ContentLength = int64(len(body))
			type result struct {
				status int
				body   []byte
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := client().Do(req)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				done <- result{resp.StatusCode, b, err}
			}()

			const piece = 256 << 10
			sent := 0
			write := func(n int) {
				for ; sent < n; sent += piece {
					_, err := pw.Write(body[sent:min(sent+piece, len(body))])
					require.NoError(t, err)
					time.Sleep(5 * time.Millisecond)
				}
			}
			write(len(body) / 2)
			// The server has part of it on disk...
			ev, ok := next(t, events)
			require.True(t, ok)
			require.Equal(t, "progress", ev.name)

			// ...when the shutdown starts.
			stopped := make(chan error, 1)
			go func() { stopped <- app.stop() }()
			require.Eventually(t, func() bool {
				c, err := net.Dial("tcp", strings.TrimPrefix(app.base, "http://"))
				if err == nil {
					c.Close()
				}
				return err != nil
			}, 10*time.Second, 10*time.Millisecond, "the listener keeps accepting")
			assert.Equal(t, []string{"bye"}, eventNames(t, idle), "an idle page's stream ends at once")
			select {
			case <-stopped:
				t.Fatal("run returned with an upload in flight")
			default:
			}

			write(len(body))
			require.NoError(t, pw.Close())
			r := <-done
			require.NoError(t, r.err)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			saved := decode[listing](t, r.body).Files
			require.Len(t, saved, 1)
			assert.Equal(t, sha(data), saved[0].SHA256)

			require.NoError(t, <-stopped)
			got, err := os.ReadFile(filepath.Join(app.dir, "inflight.bin"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "saved file differs")
			assert.Empty(t, dirNames(t, app.tmp), "temp dir is empty after shutdown")

			// The busy page got its upload's last progress, then goodbye.
			names := eventNames(t, events)
			require.NotEmpty(t, names)
			assert.Equal(t, "bye", names[len(names)-1])
			assert.Contains(t, names, "files")
		})
	}
}

// TestHubCoalescesAndDrains checks the hub without a server: a stream gets
// the latest state of each file once, in first-seen order, and on drain only
// sessions without uploads in flight end.
func TestHubCoalescesAndDrains(t *testing.T) {
	h := newHub()
	st := h.subscribe("page")
	h.beginUpload("page")
	for i := int64(1); i <= 100; i++ {
		h.publish("page", progressEvent{Key: "a", Name: "a.bin", Bytes: i})
		h.publish("page", progressEvent{Key: "b", Name: "b.bin", Bytes: 2 * i})
	}
	h.publish("nobody", progressEvent{Key: "x"}) // no stream: dropped
	out := st.take()
	assert.Equal(t, 2, strings.Count(out, "event: progress"), "coalesced to one event per file")
	assert.Less(t, strings.Index(out, `"key":"a"`), strings.Index(out, `"key":"b"`))
	assert.Contains(t, out, `"bytes":100`)
	assert.Contains(t, out, `"bytes":200`)
	assert.Empty(t, st.take(), "taken once")

	idle := h.subscribe("idle")
	h.drain()
	assert.True(t, h.ending("idle"))
	assert.False(t, h.ending("page"), "a page with an upload in flight keeps its stream")
	h.endUpload("page")
	assert.True(t, h.ending("page"))
	select {
	case <-st.wake:
	default:
		t.Error("the stream was not woken when its last upload ended")
	}
	h.unsubscribe("page", st)
	h.unsubscribe("idle", idle)
	assert.Empty(t, h.sessions, "sessions are freed with their last stream and upload")
}

// TestClientsThatLeave cuts an upload and a download halfway: the server
// forgets the upload (its temp file goes, its page's stream no longer waits
// for it), stops reading the file for the download, and still shuts down
// at once.
func TestClientsThatLeave(t *testing.T) {
	for _, threading := range []string{"false", "true"} {
		t.Run("threading="+threading, func(t *testing.T) {
			app := startApp(t, "-threading="+threading)
			upload(t, app.base, "", part{field: "file", name: "big.bin", data: randomBytes(t, 8<<20)})
			events := openStream(t, app.base, "leaver")

			ct, body := multipartBody(t, part{field: "file", name: "cut.bin", data: randomBytes(t, 4<<20)})
			conn, err := net.Dial("tcp", strings.TrimPrefix(app.base, "http://"))
			require.NoError(t, err)
			fmt.Fprintf(conn, "POST /files?id=leaver&key=k HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
			_, err = conn.Write(body[:len(body)/2])
			require.NoError(t, err)
			ev, ok := next(t, events)
			require.True(t, ok)
			require.Equal(t, "progress", ev.name)
			require.NoError(t, conn.Close())
			require.Eventually(t, func() bool { return len(dirNames(t, app.tmp)) == 0 }, 10*time.Second, 10*time.Millisecond,
				"the cut upload's temp file is removed")

			resp, err := http.Get(app.base + "/files/big.bin")
			require.NoError(t, err)
			_, err = io.ReadFull(resp.Body, make([]byte, 100<<10))
			require.NoError(t, err)
			resp.Body.Close() // gone with most of the 8 MiB unread

			start := time.Now()
			require.NoError(t, app.stop())
			assert.Less(t, time.Since(start), 5*time.Second, "nothing held the shutdown up")
			assert.Equal(t, "bye", lastEvent(t, events))
			assert.Equal(t, []string{".sha256", "big.bin"}, dirNames(t, app.dir))
		})
	}
}

func lastEvent(t *testing.T, events <-chan sseEvent) string {
	t.Helper()
	names := eventNames(t, events)
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}
