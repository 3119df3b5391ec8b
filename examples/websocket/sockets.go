package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/httpev/httpev"
)

// sockets owns every WebSocket the server handed over: it runs their
// goroutines, relays chat messages, and closes them all when the program
// stops (the HTTP server's Shutdown no longer sees them).
type sockets struct {
	mu      sync.Mutex
	conns   map[*websocket.Conn]*chatter // nil for an echo socket
	closing bool
	wg      sync.WaitGroup
}

// chatter is one /chat client: its outbox, drained by its own writer so a
// slow client never holds up the others.
type chatter struct {
	out chan message
}

type message struct {
	typ  websocket.MessageType
	data []byte
}

const (
	maxMessage   = 1 << 20         // read limit per message (the library's default is 32 KB)
	writeTimeout = 5 * time.Second // a client that takes longer to accept a message is dropped
	outboxSize   = 16              // chat messages queued per client before it counts as too slow
)

func newSockets() *sockets { return &sockets{conns: map[*websocket.Conn]*chatter{}} }

// echo is a net/http handler, served through httpev.ServeHandler: Accept
// hijacks the connection through the library's ResponseWriter.
func (s *sockets) echo(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the client (426, 400, 403)
	}
	if !s.add(conn, nil, 1) {
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.remove(conn)
		for {
			typ, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			if err := write(conn, message{typ, data}); err != nil {
				return
			}
		}
	}()
}

// chat is a plain CGI callback that upgrades through CGI.GiveUpHandle:
// whatever a client sends goes to every client connected to /chat.
func (s *sockets) chat(c *httpev.CGI) {
	conn, err := upgrade(c, nil)
	if err != nil {
		return
	}
	ch := &chatter{out: make(chan message, outboxSize)}
	if !s.add(conn, ch, 2) {
		return
	}
	go func() { // reader: relays, and ends the client
		defer s.wg.Done()
		defer s.remove(conn)
		for {
			typ, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			s.broadcast(message{typ, data})
		}
	}()
	go func() { // writer: until remove closes the outbox
		defer s.wg.Done()
		for m := range ch.out {
			if write(conn, m) != nil {
				conn.CloseNow() // the reader then ends and removes it
				for range ch.out {
				}
				return
			}
		}
	}()
}

// add registers a new WebSocket and the goroutines that will serve it,
// unless the program is stopping (then it is closed at once, going away).
// The goroutines are counted under the lock, so closeAll never waits while
// one is being added.
func (s *sockets) add(conn *websocket.Conn, ch *chatter, goroutines int) bool {
	conn.SetReadLimit(maxMessage)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		conn.Close(websocket.StatusGoingAway, "server stopping")
		return false
	}
	s.conns[conn] = ch
	s.wg.Add(goroutines)
	return true
}

// remove forgets a WebSocket whose reader ended, and ends its writer.
func (s *sockets) remove(conn *websocket.Conn) {
	s.mu.Lock()
	ch, ok := s.conns[conn]
	delete(s.conns, conn)
	if ok && ch != nil {
		close(ch.out)
	}
	s.mu.Unlock()
	conn.CloseNow()
}

// broadcast queues m for every chat client. One whose outbox is full is
// too slow to keep up and is disconnected, rather than buffered without end.
func (s *sockets) broadcast(m message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for conn, ch := range s.conns {
		if ch == nil {
			continue
		}
		select {
		case ch.out <- m:
		default:
			go conn.Close(websocket.StatusPolicyViolation, "too slow")
		}
	}
}

// closeAll closes every WebSocket with 1001 (going away) and waits for
// their goroutines.
func (s *sockets) closeAll() {
	s.mu.Lock()
	s.closing = true
	var wg sync.WaitGroup
	for conn := range s.conns {
		// Close waits for the client's answering close frame (at most 5 s).
		wg.Go(func() { conn.Close(websocket.StatusGoingAway, "server stopping") })
	}
	s.mu.Unlock()
	wg.Wait()
	s.wg.Wait()
}

func write(conn *websocket.Conn, m message) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return conn.Write(ctx, m.typ, m.data)
}

// count reports the open WebSockets, only those of /chat if chatOnly.
func (s *sockets) count(chatOnly bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ch := range s.conns {
		if ch != nil || !chatOnly {
			n++
		}
	}
	return n
}
