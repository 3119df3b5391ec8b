// Package memconn is an in-memory net.Conn and net.Listener with real
// deadlines, so that httpev's connection engine can serve requests that
// never touch a socket: the net/http bridge opens one per request, and
// httpevtest drives servers in unit tests without ports.
//
// Unlike net.Pipe, each direction is a bounded buffer (64 KB unless told
// otherwise): a writer does not wait for the reader to take each piece,
// which keeps the engine's connection goroutine and the bridge from
// handing every small write back and forth, while the bound still pushes
// back on a writer whose reader stalls. Each byte is copied twice (into
// the buffer and out of it), a few microseconds per megabyte.
package memconn
