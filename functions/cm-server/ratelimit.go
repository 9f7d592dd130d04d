package main

import (
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

// Bounds on the limiter's memory: clients idle this long are forgotten (their
// bucket is full again anyway), and at most maxClients are tracked; past
// that, the least recently seen client is forgotten first.
const (
	idleClient = time.Minute
	maxClients = 100_000
)

// evictPerCall bounds how many idle clients one allow forgets, so that the
// work per call is constant; each call adds at most one client, so this
// keeps up with any arrival of new clients.
const evictPerCall = 2

// limiter is a token bucket per client: the API key when authentication is
// on, else the client's address. The buckets live in an LRU list (hashicorp's
// simplelru): a call is a map look-up and a move to the front, and the idle
// clients are always at the back, where allow forgets them a few at a time.
// Time and memory per call do not grow with the number of clients.
type limiter struct {
	rate     rate.Limit
	burst    int
	trustXFF bool

	mu      sync.Mutex
	clients *simplelru.LRU[string, *bucket]
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int, trustXFF bool) *limiter {
	return newLimiterSize(perSecond, burst, trustXFF, maxClients)
}

func newLimiterSize(perSecond float64, burst int, trustXFF bool, size int) *limiter {
	// NewLRU fails only on a size below 1.
	clients, _ := simplelru.NewLRU[string, *bucket](max(size, 1), nil)
	return &limiter{rate: rate.Limit(perSecond), burst: burst, trustXFF: trustXFF, clients: clients}
}

// allow takes a token for client, or says how long until one is free.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range evictPerCall {
		_, oldest, ok := l.clients.GetOldest()
		if !ok || now.Sub(oldest.seen) <= idleClient {
			break
		}
		l.clients.RemoveOldest()
	}
	b, ok := l.clients.Get(client)
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients.Add(client, b)
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
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
