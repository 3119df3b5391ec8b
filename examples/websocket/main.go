// Command websocket serves WebSocket endpoints on httpev with
// github.com/coder/websocket, upgrading the two ways the library offers:
//
//   - /ws/echo is a net/http handler served with httpev.ServeHandler; the
//     library's ResponseWriter implements http.Hijacker (with
//     CGI.GiveUpHandle underneath), so websocket.Accept works unchanged.
//     Every message comes back to its sender.
//   - /ws/chat is a plain CGI callback that gives the connection up itself:
//     upgrade wraps the CGI in a minimal ResponseWriter whose Hijack is
//     CGI.GiveUpHandle. Every message goes to every client connected.
//
// After the upgrade the connection belongs to the application, not to the
// server: Shutdown does not wait for it, so the program closes its
// WebSockets itself (going away, 1001) when it stops.
//
//	cd examples/websocket && go run .    # then open http://127.0.0.1:8080/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/httpev/httpev"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "`host:port` to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "httpev-websocket")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	s, err := start(*addr, tmp, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving http://%s/ (WebSocket on /ws/echo and /ws/chat)\n", s.addr)
	<-ctx.Done()
	if err := s.stop(10 * time.Second); err != nil {
		log.Print(err)
	}
}

// server is the running example: the httpev server and the WebSockets it
// handed to the application.
type server struct {
	srv  *httpev.Server
	addr net.Addr
	ws   *sockets
}

// start listens on addr. Both endpoints work in either threading mode:
// every callback returns at once, leaving the WebSocket to a goroutine.
func start(addr, tmp string, threading bool) (*server, error) {
	srv, err := httpev.New(httpev.Options{TmpPath: tmp})
	if err != nil {
		return nil, err
	}
	s := &server{srv: srv, ws: newSockets()}
	echo := httpev.ServeHandler(http.HandlerFunc(s.ws.echo))
	l, err := srv.Listen(addr, func(c *httpev.CGI) {
		switch c.Path() {
		case "/":
			c.Header(nil)
			c.WriteString(page)
		case "/ws/echo":
			echo(c)
		case "/ws/chat":
			s.ws.chat(c)
		default:
			c.SetStatus(http.StatusNotFound)
			c.WriteString("not found\n")
		}
	}, httpev.ListenOptions{Threading: threading})
	if err != nil {
		srv.Close()
		return nil, err
	}
	s.addr = l.Addr()
	return s, nil
}

// stop shuts the HTTP side down gracefully, then closes every WebSocket
// (1001, going away) and waits for their goroutines.
func (s *server) stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.ws.closeAll()
	s.srv.Close()
	if err != nil && !errors.Is(err, httpev.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// page is a small client for trying both endpoints in a browser.
const page = `<!doctype html><meta charset="utf-8"><title>httpev WebSocket</title>
<p><input id="msg" value="hello"> <button id="echo">echo</button> <button id="chat">say to everyone</button>
<pre id="log"></pre>
<script>
const log = s => document.getElementById("log").textContent += s + "\n";
const open = path => { const ws = new WebSocket("ws://" + location.host + path);
  ws.onmessage = e => log(path + ": " + e.data); ws.onclose = e => log(path + " closed " + e.code); return ws; };
const echo = open("/ws/echo"), chat = open("/ws/chat");
document.getElementById("echo").onclick = () => echo.send(document.getElementById("msg").value);
document.getElementById("chat").onclick = () => chat.send(document.getElementById("msg").value);
</script>
`
