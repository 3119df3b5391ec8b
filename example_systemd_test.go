package httpev_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/httpev/httpev"
)

// systemdListeners returns the sockets systemd passed to this process
// (socket activation: LISTEN_PID is our pid, LISTEN_FDS how many, from
// descriptor 3 on), what go-systemd's activation.Listeners does in a few
// lines. Outside systemd it returns none.
func systemdListeners() ([]net.Listener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil {
		return nil, fmt.Errorf("LISTEN_FDS: %w", err)
	}
	// Programs this one starts must not take the sockets for theirs.
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	var lns []net.Listener
	for fd := 3; fd < 3+n; fd++ {
		f := os.NewFile(uintptr(fd), "systemd-socket")
		ln, err := net.FileListener(f) // dups the descriptor
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("descriptor %d: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Socket activation: systemd binds the socket (httpev.socket's
// ListenStream=) and starts the service with it, so the port is open before
// the server runs and stays open across its restarts. Listen serves any
// net.Listener; run outside systemd the program binds its own. See
// docs/deploy.md for the units.
func Example_systemdSocketActivation() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srv, err := httpev.New(httpev.Options{TmpPath: tmp})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	lns, err := systemdListeners()
	if err != nil {
		panic(err)
	}
	if len(lns) == 0 { // not started by systemd
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		if _, err := srv.Listen(ln, func(c *httpev.CGI) {
			c.Printf("hello on port %s\n", c.Env("SERVER_PORT"))
		}, httpev.ListenOptions{}); err != nil {
			panic(err)
		}
	}

	resp, err := http.Get("http://" + lns[0].Addr().String() + "/")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(lns[0].Addr().String())
	fmt.Print(strings.Replace(string(body), port, "<port>", 1))
	// Output: hello on port <port>
}
