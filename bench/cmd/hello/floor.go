//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// floorServer is not a library and not a usable server: it is the least
// work a server can do for the two GET figures, to show what bounds them on
// the machine at hand. One goroutine does everything with raw system calls
// on raw descriptors: it waits in epoll_wait (blocking, level-triggered; no
// Go netpoller, no goroutine per connection), accepts with accept4 and
// reads a new connection's request at once when it is already there (so a
// connection-per-request client costs accept4, read, write and close, and
// no epoll_ctl at all), reads whatever a ready socket has, answers every
// complete request head in it with a canned response (the same headers and
// body as the other servers) in one write, and closes after a
// "Connection: close" request. It parses nothing but the end of each head
// and that one header, and answers anything but GET with 501. When
// httpev, fasthttp and this floor land on the same req/s, the load
// generator and the kernel's loopback TCP are the limit, not the server.
type floorServer struct{}

// floorConn is a connection's leftover: the start of a request head whose
// end has not arrived.
type floorConn struct{ pending []byte }

type floorLoop struct {
	ep    int
	conns map[int32]*floorConn
	buf   []byte
	out   []byte
	date  []byte
	sec   int64
}

func (floorServer) serve(ctx context.Context, ln net.Listener) error {
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err
	}
	lfd := -1
	_ = rc.Control(func(fd uintptr) { lfd = int(fd) })
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer syscall.Close(ep)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &ev); err != nil {
		return err
	}
	f := &floorLoop{ep: ep, conns: map[int32]*floorConn{}, buf: make([]byte, 64<<10)}
	defer func() {
		for fd := range f.conns {
			_ = syscall.Close(int(fd))
		}
		_ = ln.Close()
	}()
	events := make([]syscall.EpollEvent, 128)
	for ctx.Err() == nil {
		n, err := syscall.EpollWait(ep, events, 100) // ms: notices ctx
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if now := time.Now(); now.Unix() != f.sec {
			f.sec = now.Unix()
			f.date = now.UTC().AppendFormat(f.date[:0], http.TimeFormat)
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == lfd {
				f.accept(lfd)
			} else if c := f.conns[ev.Fd]; c != nil {
				f.read(int(ev.Fd), c, true)
			}
		}
	}
	return nil
}

func (f *floorLoop) accept(lfd int) {
	for {
		fd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: the queue is empty
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		f.read(fd, &floorConn{}, false)
	}
}

// read serves what fd has; registered tells whether it is in the epoll set.
func (f *floorLoop) read(fd int, c *floorConn, registered bool) {
	m, err := syscall.Read(fd, f.buf)
	if errors.Is(err, syscall.EAGAIN) {
		if !registered {
			f.register(fd, c)
		}
		return
	}
	if m <= 0 {
		f.close(fd, registered)
		return
	}
	data := f.buf[:m]
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	out := f.out[:0]
	last := false
	for !last {
		i := bytes.Index(data, []byte("\r\n\r\n"))
		if i < 0 {
			break
		}
		head := data[:i]
		data = data[i+4:]
		last = floorHasClose(head)
		if !bytes.HasPrefix(head, []byte("GET ")) {
			out = append(out, "HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"...)
			last = true
			continue
		}
		out = append(out, "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: "...)
		out = append(out, f.date...)
		out = append(out, "\r\nContent-Type: text/html\r\nContent-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		if last {
			out = append(out, "\r\nConnection: close"...)
		}
		out = append(out, "\r\n\r\n"+body...)
	}
	c.pending = append(c.pending[:0], data...)
	f.out = out
	if len(out) > 0 && !floorWrite(fd, out) {
		last = true
	}
	switch {
	case last:
		f.close(fd, registered)
	case !registered:
		f.register(fd, c)
	}
}

func (f *floorLoop) register(fd int, c *floorConn) {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if syscall.EpollCtl(f.ep, syscall.EPOLL_CTL_ADD, fd, &ev) != nil {
		_ = syscall.Close(fd)
		return
	}
	f.conns[int32(fd)] = c
}

func (f *floorLoop) close(fd int, registered bool) {
	if registered {
		delete(f.conns, int32(fd)) // closing removes it from the epoll set
	}
	_ = syscall.Close(fd)
}

// floorWrite writes all of p. A full socket buffer (never with wrk's
// small responses) is waited out by retrying, for at most a second.
func floorWrite(fd int, p []byte) bool {
	for tries := 0; len(p) > 0; {
		n, err := syscall.Write(fd, p)
		if n > 0 {
			p = p[n:]
			continue
		}
		if !errors.Is(err, syscall.EAGAIN) || tries > 20000 {
			return false
		}
		tries++
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

// floorHasClose reports whether a request head carries Connection: close.
func floorHasClose(head []byte) bool {
	for len(head) > 0 {
		line := head
		if i := bytes.Index(head, []byte("\r\n")); i >= 0 {
			line, head = head[:i], head[i+2:]
		} else {
			head = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(bytes.TrimSpace(value), []byte("close")) {
			return true
		}
	}
	return false
}
