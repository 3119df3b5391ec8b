package poller

import (
	"os"
	"syscall"
)

// epoll is the poller's epoll set and the pipe that wakes its wait. Every
// epoll system call of the poller is in this file.
type epoll struct {
	fd           int
	pokeR, pokeW int // a pipe whose reading end is in the set: poke wakes the wait
}

// event is one readiness report: Fd is the descriptor, Pad the generation
// of the registration it was made for (a stale report, for a descriptor
// since closed and reused, has an older one).
type event = syscall.EpollEvent

func openEpoll() (epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return epoll{}, os.NewSyscallError("epoll_create1", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(fd)
		return epoll{}, os.NewSyscallError("pipe2", err)
	}
	ev := event{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		_ = syscall.Close(fd)
		_ = syscall.Close(pipe[0])
		_ = syscall.Close(pipe[1])
		return epoll{}, os.NewSyscallError("epoll_ctl", err)
	}
	return epoll{fd: fd, pokeR: pipe[0], pokeW: pipe[1]}, nil
}

// add registers fd for input, end of stream and errors: level-triggered
// (a resident connection, reported as long as it has input), or one-shot
// (a parked one, reported once, then disabled until removed).
func (ep *epoll) add(fd int, oneshot bool, gen uint32) error {
	return ep.addEvents(fd, waitEvents(oneshot), gen)
}

// waitEvents is what a waiting connection's registration reports.
func waitEvents(oneshot bool) uint32 {
	if oneshot {
		return syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
	}
	return syscall.EPOLLIN | syscall.EPOLLRDHUP
}

// addEvents registers fd for events.
func (ep *epoll) addEvents(fd int, events uint32, gen uint32) error {
	ev := event{Events: events, Fd: int32(fd), Pad: int32(gen)}
	if err := syscall.EpollCtl(ep.fd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// modify changes fd's registration to events (a client watch to a wait,
// or the other way), and re-arms a one-shot one.
func (ep *epoll) modify(fd int, events uint32, gen uint32) error {
	ev := event{Events: events, Fd: int32(fd), Pad: int32(gen)}
	if err := syscall.EpollCtl(ep.fd, syscall.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// del removes fd from the set.
func (ep *epoll) del(fd int) {
	_ = syscall.EpollCtl(ep.fd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// mute keeps fd in the set but has it report nothing (tests: a request
// the poller misses).
func (ep *epoll) mute(fd int, gen uint32) error {
	ev := event{Events: syscall.EPOLLONESHOT, Fd: int32(fd), Pad: int32(gen)}
	return syscall.EpollCtl(ep.fd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// wait is epoll_wait: ms -1 waits without limit.
func (ep *epoll) wait(events []event, ms int) (int, error) {
	n, err := syscall.EpollWait(ep.fd, events, ms)
	if err != nil && err != syscall.EINTR {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	if err != nil {
		return 0, nil // interrupted: as a timeout, the caller looks again
	}
	return n, nil
}

// poke makes a wait return.
func (ep *epoll) poke() { _, _ = syscall.Write(ep.pokeW, []byte{0}) }

// isPoke reports whether ev is the wake pipe's, and empties the pipe.
func (ep *epoll) isPoke(ev *event) bool {
	if int(ev.Fd) != ep.pokeR {
		return false
	}
	var buf [64]byte
	_, _ = syscall.Read(ep.pokeR, buf[:])
	return true
}

func (ep *epoll) close() {
	_ = syscall.Close(ep.fd)
	_ = syscall.Close(ep.pokeR)
	_ = syscall.Close(ep.pokeW)
}
