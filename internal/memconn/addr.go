package memconn

// Addr names an in-memory endpoint. Its network is "memory", so it never
// compares equal to a real socket address.
type Addr string

// Network implements net.Addr.
func (Addr) Network() string { return "memory" }

// String implements net.Addr.
func (a Addr) String() string { return string(a) }
