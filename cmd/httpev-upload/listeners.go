package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// Listening sockets can come from three places: -addr (the app binds it),
// systemd socket activation (LISTEN_FDS), or the -procs supervisor that
// started this process as a worker. The last two hand the sockets over as
// open descriptors from 3 on, the convention of sd_listen_fds(3).

// firstInheritedFD is SD_LISTEN_FDS_START: descriptors 0-2 are stdio.
const firstInheritedFD = 3

// workerEnv marks a process the -procs supervisor started: its value is the
// number of listening sockets it passed. A variable of the app's own, not
// LISTEN_FDS, because LISTEN_PID must name the child, whose pid exec.Cmd
// cannot know before it starts. workerSlotEnv is the worker's slot
// (0..procs-1), which names its temp directory: a worker restarted in a slot
// empties what its crashed predecessor left there, and nothing of the others.
const (
	workerEnv     = "HTTPEV_UPLOAD_WORKER_FDS"
	workerSlotEnv = "HTTPEV_UPLOAD_WORKER_SLOT"
)

// inheritance is what the process that started this one handed over.
type inheritance struct {
	lns  []net.Listener
	from string // "systemd", "supervisor", or "" when the app binds -addr itself
	slot string // the worker's slot, when from is "supervisor"
}

// inherited returns the listening sockets this process was given, by
// systemd or by the supervisor. None, with a nil error, means the app binds
// -addr itself. It unsets the variables it read, so that programs this
// process starts do not take the sockets for theirs (sd_listen_fds'
// unset_environment).
func inherited() (inheritance, error) {
	if n := os.Getenv(workerEnv); n != "" {
		in := inheritance{from: "supervisor", slot: os.Getenv(workerSlotEnv)}
		os.Unsetenv(workerEnv)
		os.Unsetenv(workerSlotEnv)
		count, err := strconv.Atoi(n)
		if err != nil || count < 1 {
			return in, fmt.Errorf("%s=%q: want a count of sockets", workerEnv, n)
		}
		if _, err := strconv.Atoi(in.slot); err != nil {
			return in, fmt.Errorf("%s=%q: want a slot number", workerSlotEnv, in.slot)
		}
		in.lns, err = fileListeners(firstInheritedFD, count)
		return in, err
	}
	count, err := systemdFDs(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getpid())
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if err != nil || count == 0 {
		return inheritance{}, err
	}
	lns, err := fileListeners(firstInheritedFD, count)
	return inheritance{lns: lns, from: "systemd"}, err
}

// systemdFDs reads systemd's socket-activation variables: how many sockets
// were passed to process pid. Variables meant for another process (a
// parent that did not unset them) count as none, as sd_listen_fds does.
func systemdFDs(listenPID, listenFDs string, pid int) (int, error) {
	if listenPID == "" || listenFDs == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(listenPID)
	if err != nil {
		return 0, fmt.Errorf("LISTEN_PID=%q is not a process id", listenPID)
	}
	if p != pid {
		return 0, nil
	}
	n, err := strconv.Atoi(listenFDs)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("LISTEN_FDS=%q is not a count of sockets", listenFDs)
	}
	return n, nil
}

// fileListeners turns descriptors first..first+count-1 into listeners. Each
// descriptor is duplicated by net.FileListener, so the original is closed.
func fileListeners(first, count int) ([]net.Listener, error) {
	var lns []net.Listener
	for fd := first; fd < first+count; fd++ {
		f := os.NewFile(uintptr(fd), "inherited-"+strconv.Itoa(fd))
		if f == nil {
			closeAll(lns)
			return nil, fmt.Errorf("inherited descriptor %d is not open", fd)
		}
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("inherited descriptor %d is not a listening socket: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// listenerFiles returns a descriptor for each listener, for a child
// process's ExtraFiles; the caller closes them once the child has started.
// They come from socketFile, not the listeners' File: os/exec calls Fd,
// which for net's File copies switches the socket to blocking mode, and
// that mode is shared by the workers already accepting from it.
func listenerFiles(lns []net.Listener) ([]*os.File, error) {
	var files []*os.File
	for _, ln := range lns {
		f, err := socketFile(ln)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("passing %s to a worker: %w", ln.Addr(), err)
		}
		files = append(files, f)
	}
	return files, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}
