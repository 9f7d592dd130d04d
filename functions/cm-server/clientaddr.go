package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxies says which X-Forwarded-For entries to believe: hops is the most
// proxies in front of cm-server that append to the header
// (FORWARDED_FOR_HOPS), trusted the networks they call from
// (FORWARDED_FOR_TRUSTED). With hops 0, the default, the header is ignored.
//
// Each proxy appends the address it was called from, and whatever comes
// before was written by the client, so the address is read from the right
// and only as far as trusted proxies wrote it. Behind Knative the ingress,
// the activator (only sometimes in the path) and the queue-proxy can append:
// docs/security.md names each and its upstream source.
type proxies struct {
	hops    int
	trusted []netip.Prefix
}

// parseTrusted reads networks ("10.244.0.0/16") or single addresses.
func parseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q: want a network such as 10.244.0.0/16 or an address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%q: write an IPv4 network in IPv4 form", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (p proxies) trusts(a netip.Addr) bool {
	for _, n := range p.trusted {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// clientOf is the address r came from, as a limiter's key: an IPv4
// address, or the /64 network of an IPv6 one (a single host is routinely
// given a whole /64, so its addresses are one client).
func (p proxies) clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, ok := parseAddr(host)
	if !ok {
		return "peer-" + host
	}
	return keyOf(p.walk(peer, r.Header.Values("X-Forwarded-For")))
}

// walk steps left from peer over the headers' entries, the last header
// first, while the address in hand is a trusted proxy's, at most p.hops
// times. A chain that runs out, or an entry that is not an address, leaves
// the last proxy's address: a shared bucket, never a new one. Entries are
// split off only as they are needed, so a long forged prefix costs nothing.
func (p proxies) walk(peer netip.Addr, headers []string) netip.Addr {
	addr, steps := peer, 0
	for i := len(headers) - 1; i >= 0; i-- {
		rest := headers[i]
		for rest != "" {
			if steps == p.hops || !p.trusts(addr) {
				return addr
			}
			j := strings.LastIndexByte(rest, ',')
			entry := strings.TrimSpace(rest[j+1:])
			rest = rest[:max(j, 0)]
			if entry == "" {
				continue
			}
			next, ok := parseAddr(entry)
			if !ok {
				return addr
			}
			addr, steps = next, steps+1
		}
	}
	return addr
}

// parseAddr reads an address as proxies write it: plain, with a port
// ("192.0.2.1:4711", "[2001:db8::1]:4711"), with a zone, or IPv4 mapped
// into IPv6; it answers the plain address.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// keyOf names the client at a: IPv6 addresses by their /64.
func keyOf(a netip.Addr) string {
	if a.Is6() {
		return "ip-" + netip.PrefixFrom(a, 64).Masked().String()
	}
	return "ip-" + a.String()
}
