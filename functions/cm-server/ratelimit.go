package main

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// Bounds on the limiter's memory: clients idle this long are forgotten (their
// bucket is full again anyway), and at most maxClients are tracked.
const (
	idleClient = time.Minute
	maxClients = 100_000
)

// limiter is a token bucket per client: the API key when authentication is
// on, else the client's address.
type limiter struct {
	rate     rate.Limit
	burst    int
	trustXFF bool

	mu      sync.Mutex
	clients map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int, trustXFF bool) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, trustXFF: trustXFF,
		clients: map[string]*bucket{}, swept: time.Now()}
}

// allow takes a token for client, or says how long until one is free.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleClient || len(l.clients) >= maxClients {
		for k, b := range l.clients {
			if now.Sub(b.seen) > idleClient || len(l.clients) >= maxClients {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	b, ok := l.clients[client]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[client] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
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
