package main

import (
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// maxClients bounds the limiter's memory: past it, the least recently seen
// client is forgotten first.
const maxClients = 100_000

// evictPerCall is how many full buckets one call may forget: more than the
// one client a call can add, so the list keeps up at constant work per call.
const evictPerCall = 2

// limiter is a token bucket per client, named by whatever string its caller
// chooses (an address, an API key, a shopper). The buckets live in an LRU
// list; a client whose bucket is full again is the same as one never seen,
// so each call forgets a few such clients from the back. Clients are keyed
// by a 64-bit hash of their name, so the list holds no strings for the
// garbage collector to scan.
type limiter struct {
	rate  rate.Limit
	burst int
	seed  maphash.Seed

	mu      sync.Mutex
	clients *simplelru.LRU[uint64, *rate.Limiter]
}

// newLimiter is a limiter of perSecond with bursts of burst, or nil (no
// limit) when perSecond is 0.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return newLimiterSize(perSecond, burst, maxClients)
}

func newLimiterSize(perSecond float64, burst int, size int) *limiter {
	// NewLRU fails only on a size below 1.
	clients, _ := simplelru.NewLRU[uint64, *rate.Limiter](max(size, 1), nil)
	return &limiter{rate: rate.Limit(perSecond), burst: burst, seed: maphash.MakeSeed(), clients: clients}
}

// allow takes a token for client, or says how long until one is free.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetFull(now)
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

// empty says, without taking anything, whether client's bucket is empty
// and how long until it holds a token again.
func (l *limiter) empty(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetFull(now)
	lim, ok := l.clients.Peek(maphash.String(l.seed, client))
	if !ok {
		return false, 0
	}
	if tokens := lim.TokensAt(now); tokens < 1 {
		return true, time.Duration((1 - tokens) / float64(l.rate) * float64(time.Second))
	}
	return false, 0
}

// forgetFull forgets up to evictPerCall clients from the back of the list
// whose buckets are full again.
func (l *limiter) forgetFull(now time.Time) {
	for range evictPerCall {
		_, oldest, ok := l.clients.GetOldest()
		if !ok || oldest.TokensAt(now) < float64(l.burst) {
			break
		}
		l.clients.RemoveOldest()
	}
}

// rateLimit answers 429 when the client that clientOf names is over l's
// rate; what names what was limited. A nil limiter, or a request clientOf
// names no one for, passes.
func rateLimit(log *slog.Logger, l *limiter, clientOf func(*http.Request) string, what string, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client := clientOf(r); client != "" {
			if ok, wait := l.allow(client, time.Now()); !ok {
				tooMany(w, r, log, what, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tooMany answers 429 with the wait in Retry-After.
func tooMany(w http.ResponseWriter, r *http.Request, log *slog.Logger, what string, wait time.Duration) {
	server.Fail(w, r, log, &server.Problem{Status: http.StatusTooManyRequests,
		Message: "too many " + what + "; retry after the Retry-After seconds", RetryAfter: max(wait, time.Second)})
}
