package main

import (
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// maxClients bounds the limiter's memory: past it, the least recently seen
// client is forgotten first.
const maxClients = 100_000

// evictPerCall bounds how many clients one allow forgets from the back of
// the list, so that the work per call is constant; each call adds at most
// one client, so this keeps up with any arrival of new clients.
const evictPerCall = 2

// limiter is a token bucket per client: the API key when authentication is
// on, else the client's address. The buckets live in an LRU list (hashicorp's
// simplelru): a call is a map look-up and a move to the front. A client
// whose bucket is full again is the same as one never seen, so allow
// forgets such clients from the back of the list, a few per call. Time and
// memory per call do not grow with the number of clients.
//
// The list holds two objects per client and no strings: clients are keyed
// by a 64-bit hash of their name (a collision among 100k clients has a
// chance of about 3e-10). With 100k clients tracked, what the garbage
// collector has to scan is most of what the limiter costs a request.
type limiter struct {
	rate     rate.Limit
	burst    int
	trustXFF bool
	seed     maphash.Seed

	mu      sync.Mutex
	clients *simplelru.LRU[uint64, *rate.Limiter]
}

func newLimiter(perSecond float64, burst int, trustXFF bool) *limiter {
	return newLimiterSize(perSecond, burst, trustXFF, maxClients)
}

func newLimiterSize(perSecond float64, burst int, trustXFF bool, size int) *limiter {
	// NewLRU fails only on a size below 1.
	clients, _ := simplelru.NewLRU[uint64, *rate.Limiter](max(size, 1), nil)
	return &limiter{rate: rate.Limit(perSecond), burst: burst, trustXFF: trustXFF, seed: maphash.MakeSeed(), clients: clients}
}

// allow takes a token for client, or says how long until one is free.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range evictPerCall {
		_, oldest, ok := l.clients.GetOldest()
		if !ok || oldest.TokensAt(now) < float64(l.burst) {
			break
		}
		l.clients.RemoveOldest()
	}
	key := maphash.String(l.seed, client)
	lim, ok := l.clients.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.clients.Add(key, lim)
	}
	res := lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// tracked is how many clients the limiter remembers.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients.Len()
}

// clientOf names the client of r: its API key, else its address from
// X-Forwarded-For when the proxies in front are trusted, else the peer.
func (l *limiter) clientOf(r *http.Request) string {
	if id, ok := r.Context().Value(clientKey{}).(string); ok {
		return id
	}
	if l.trustXFF {
		if addr := forwardedClient(r.Header.Values("X-Forwarded-For")); addr != "" {
			return "ip-" + addr
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip-" + host
}

// rateLimit answers 429 with Retry-After when the client is over its rate.
// A nil limiter (BUY_RATE_LIMIT=0) lets everything through.
func rateLimit(log *slog.Logger, l *limiter, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := l.allow(l.clientOf(r), time.Now()); !ok {
			server.Fail(w, r, log, &server.Problem{Status: http.StatusTooManyRequests,
				Message: "too many purchases from this client; retry after the Retry-After seconds", RetryAfter: wait})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient picks the client from X-Forwarded-For. Each proxy appends
// the address it was called from, and a client can forge what comes before.
// So read from the right, skip the cluster's own proxies (private, loopback
// and link-local addresses), and take the first public address: the one the
// edge proxy saw. A chain of private addresses only (a caller inside the
// cluster) gives its left-most one.
func forwardedClient(headers []string) string {
	var addrs []string
	for _, h := range headers {
		for _, a := range strings.Split(h, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	for i := len(addrs) - 1; i >= 0; i-- {
		ip := net.ParseIP(addrs[i])
		if ip == nil {
			continue
		}
		if !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			return ip.String()
		}
	}
	if len(addrs) > 0 {
		return addrs[0]
	}
	return ""
}
