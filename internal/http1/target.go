package http1

import "bytes"

// splitTarget fills Path and RawQuery and checks that the request-target has
// the one form RFC 9112 §3.2 allows for the method: authority-form for
// CONNECT only, asterisk-form for OPTIONS only, otherwise origin-form or
// absolute-form. Anything else could be routed differently by a proxy in
// front of us, so it is refused. So is a fragment, which no request-target
// may carry.
func (r *Request) splitTarget() error {
	t := r.Target
	r.Path = t
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		r.Path, r.RawQuery = t[:q], t[q+1:]
	}
	switch {
	case bytes.IndexByte(t, '#') >= 0:
		return errTarget
	case string(r.Method) == "CONNECT":
		if !validHost(t, true) {
			return errTargetForm
		}
		r.Host = t
		return nil
	case len(t) == 1 && t[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return errTargetForm
		}
		return nil
	case t[0] != '/':
		if !r.absoluteForm() {
			return errTarget
		}
	}
	if !validEscapes(r.Path) {
		return errTarget
	}
	return nil
}

// absoluteForm checks an absolute-form target, scheme "://" authority
// path-abempty [ "?" query ] (RFC 3986 §3), and points Host at its authority
// and Path at its path: RFC 9112 §3.2.2 makes the target's authority override
// the Host field, and routing wants the path alone. Path is empty when the
// URI has none, which means "/". Scheme-only URIs such as urn:x have no
// meaning as a request-target, and userinfo is refused (RFC 9110 §4.2.4).
func (r *Request) absoluteForm() bool {
	t := r.Target
	if lower[t[0]] < 'a' || lower[t[0]] > 'z' {
		return false
	}
	i := 1
	for i < len(t) && class[t[i]]&cScheme != 0 {
		i++
	}
	if !bytes.HasPrefix(t[i:], []byte("://")) {
		return false
	}
	i += 3
	end := i
	for end < len(t) && t[end] != '/' && t[end] != '?' {
		end++
	}
	if end == i || !validHost(t[i:end], false) {
		return false
	}
	r.Host = t[i:end]
	r.Path = r.Path[end:]
	return true
}

// validEscapes reports whether every '%' in p starts a pct-encoded octet
// (RFC 3986 §2.1), so the path decodes one way only. The query is left to
// form parsing: clients send stray '%' there and its decoding is lenient.
func validEscapes(p []byte) bool {
	for {
		i := bytes.IndexByte(p, '%')
		if i < 0 {
			return true
		}
		if i+2 >= len(p) || class[p[i+1]]&cHex == 0 || class[p[i+2]]&cHex == 0 {
			return false
		}
		p = p[i+3:]
	}
}

// validHost reports whether v is uri-host [ ":" port ] (RFC 3986 §3.2.2), the
// grammar of both the Host field (RFC 9112 §3.2, which requires a 400 for an
// invalid one) and the CONNECT target, which must carry a port.
func validHost(v []byte, needPort bool) bool {
	i := 0
	if len(v) > 0 && v[0] == '[' {
		// IP-literal: IPv6address or IPvFuture, both drawn from this set.
		j := bytes.IndexByte(v, ']')
		if j < 2 {
			return false
		}
		for _, c := range v[1:j] {
			if class[c]&cHost == 0 && c != ':' || c == '%' {
				return false
			}
		}
		i = j + 1
	} else {
		for i < len(v) && class[v[i]]&cHost != 0 {
			if v[i] == '%' {
				if i+2 >= len(v) || class[v[i+1]]&cHex == 0 || class[v[i+2]]&cHex == 0 {
					return false
				}
				i += 2
			}
			i++
		}
		if needPort && i == 0 {
			return false
		}
	}
	if i == len(v) {
		return !needPort
	}
	if v[i] != ':' {
		return false
	}
	port := v[i+1:]
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return !needPort || len(port) > 0
}
