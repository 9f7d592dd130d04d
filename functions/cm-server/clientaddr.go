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
// (FORWARDED_FOR_TRUSTED). With hops 0, the default, the header is ignored
// and the TCP peer is the client.
//
// Each proxy appends the address it was called from; whatever comes before
// was written by the client. So the address is read from the right: the
// peer, and then each entry a trusted proxy appended, one step a proxy,
// at most hops steps, stopping at the first address that is not a trusted
// proxy's. Nothing left of that is read, so no prefix a client writes can
// change who it is.
//
// Behind Knative three proxies can append (docs/security.md): the ingress's
// Envoy, which appends only with use_remote_address on (Kourier: off unless
// use-remote-address is "true", knative-extensions/net-kourier
// knative-v1.23.0 pkg/envoy/api/http_connection_manager.go; always on in
// Istio's gateway, istio/istio pilot/pkg/networking/core/gateway.go, and in
// Contour, projectcontour/contour internal/envoy/v3/listener.go), the
// activator when it is in the path (httputil.ReverseProxy with a Director,
// knative/serving knative-v1.23.0 pkg/http/proxy.go and
// pkg/activator/handler/handler.go), and the queue-proxy (the same proxy,
// pkg/queue/sharedmain/handlers.go), whose loopback address is the peer.
// The activator is there only sometimes, so hops is a maximum and the
// trusted networks tell its entry from the client's.
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

// walk steps left from peer over headers' entries while the address in
// hand is a trusted proxy's, at most p.hops times. A chain that runs out,
// or an entry that is not an address, leaves the last proxy's address:
// a shared bucket, never a new one.
func (p proxies) walk(peer netip.Addr, headers []string) netip.Addr {
	addr := peer
	entries := rightToLeft{headers: headers}
	for step := 0; step < p.hops && p.trusts(addr); step++ {
		entry, ok := entries.next()
		if !ok {
			return addr
		}
		next, ok := parseAddr(entry)
		if !ok {
			return addr
		}
		addr = next
	}
	return addr
}

// rightToLeft reads X-Forwarded-For entries from the right, the last header
// first, splitting only as far as it is asked to: a long forged prefix
// costs nothing.
type rightToLeft struct {
	headers []string
	rest    string
}

func (it *rightToLeft) next() (string, bool) {
	for {
		if it.rest == "" {
			if len(it.headers) == 0 {
				return "", false
			}
			it.rest, it.headers = it.headers[len(it.headers)-1], it.headers[:len(it.headers)-1]
			continue
		}
		i := strings.LastIndexByte(it.rest, ',')
		entry := strings.TrimSpace(it.rest[i+1:])
		it.rest = it.rest[:max(i, 0)]
		if entry != "" {
			return entry, true
		}
	}
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
