package rawfd

import (
	"net"
	"strconv"
	"syscall"
)

// localTCP is an accepted socket's own address: the listener's when that
// names one address, else getsockname's.
func localTCP(fd int, lnAddr net.Addr) net.Addr {
	if a, ok := lnAddr.(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		return a
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return lnAddr
	}
	return sockaddrTCP(sa)
}

// sockaddrTCP is the address Go would report for sa.
func sockaddrTCP(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *syscall.SockaddrInet6:
		ta := &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
		if a.ZoneId != 0 {
			if ifc, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ta.Zone = ifc.Name
			} else {
				ta.Zone = strconv.Itoa(int(a.ZoneId))
			}
		}
		return ta
	}
	return &net.TCPAddr{}
}
