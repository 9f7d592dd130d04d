package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
)

// outcome is reason without a *testing.T, for goroutines: "" for an
// accepted token, the refusal's reason, "unavailable", or the error.
func outcome(v *auth.Verifier, token string) string {
	_, err := v.Verify(context.Background(), token)
	var invalid *auth.InvalidError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &invalid):
		return invalid.Reason
	case errors.Is(err, auth.ErrUnavailable):
		return "unavailable"
	}
	return "unexpected error: " + err.Error()
}

// forged returns n tokens signed by keys the issuer never published, each
// naming a new key id.
func forged(t *testing.T, iss *authtest.Issuer, round, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = iss.Forged(t, "joe", fmt.Sprintf("forged-%d-%d", round, i))
	}
	return tokens
}

// flood verifies tokens with workers goroutines and reports every outcome
// other than want.
func flood(t *testing.T, v *auth.Verifier, tokens []string, workers int, want string) {
	t.Helper()
	outcomes := make([]string, len(tokens))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(tokens); i += workers {
				outcomes[i] = outcome(v, tokens[i])
			}
		})
	}
	wg.Wait()
	for i, got := range outcomes {
		if got != want {
			t.Errorf("forged token %d: got %q, want %q", i, got, want)
		}
	}
}

// fetchesAtMost fails unless the issuer served at most one JWKS fetch for
// the first token and one per refresh interval since.
func fetchesAtMost(t *testing.T, iss *authtest.Issuer, c *clock, when string) {
	t.Helper()
	limit := 1 + int(c.elapsed()/auth.DefaultRefreshInterval)
	if n := iss.KeyFetches(); n > limit {
		t.Errorf("%s: JWKS fetches: got %d, want at most %d (1 + %s / %s)", when, n, limit, c.elapsed(), auth.DefaultRefreshInterval)
	}
}

// TestForgedKidsFetchOncePerInterval floods the verifier with tokens that
// each name a new key id, one at a time and concurrently, while the clock
// moves: the issuer is asked at most once per refresh interval, every forged
// token is refused for its signature, and a valid token keeps working.
func TestForgedKidsFetchOncePerInterval(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	c := newClock()
	v := clocked(iss, c)
	valid := iss.Token(t, "joe", nil)
	if got := reason(t, v, valid); got != "" {
		t.Fatalf("first token: got %q, want accepted", got)
	}
	for round, workers := range []int{1, 16, 16, 16, 1, 16} {
		tokens := forged(t, iss, round, 100)
		done := make(chan string)
		go func() { done <- outcome(v, valid) }()
		flood(t, v, tokens, workers, badSignature)
		if got := <-done; got != "" {
			t.Errorf("round %d: a valid token during the flood: got %q, want accepted", round, got)
		}
		fetchesAtMost(t, iss, c, fmt.Sprintf("round %d", round))
		c.advance(auth.DefaultRefreshInterval * 3 / 4)
	}

	// Rotation: once the interval has passed, the one fetch a forged token
	// makes brings the rotated key.
	iss.Rotate(t, "rsa-2")
	rotated := iss.Token(t, "joe", nil)
	c.advance(auth.DefaultRefreshInterval)
	before := iss.KeyFetches()
	flood(t, v, forged(t, iss, 99, 100), 16, badSignature)
	await(t, v, "the rotated key after the interval", rotated, "")
	if n := iss.KeyFetches() - before; n != 1 {
		t.Errorf("JWKS fetches after the interval: got %d, want 1", n)
	}
}

// TestThrottledIssuerAskedOncePerInterval: while the issuer refuses the JWKS
// (429, as a provider that throttles), a flood of forged key ids gets 503
// and makes one attempt per interval, a token of a cached key still works,
// and once the issuer answers again the next interval brings its keys back.
// When the key cache's lifetime ends during the refusal, every token gets
// 503 (never accepted), and the attempts stay one per interval.
func TestThrottledIssuerAskedOncePerInterval(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	c := newClock()
	v := clocked(iss, c)
	valid := iss.Token(t, "joe", authtest.Claims{"exp": time.Now().Add(3 * time.Hour).Unix()})
	if got := reason(t, v, valid); got != "" {
		t.Fatalf("first token: got %q, want accepted", got)
	}
	iss.Throttle(true)
	for round := range 2 {
		c.advance(auth.DefaultRefreshInterval)
		await(t, v, "a forged kid, issuer throttling", iss.Forged(t, "joe", "first"), "unavailable")
		flood(t, v, forged(t, iss, round, 100), 16, "unavailable")
		if got := reason(t, v, valid); got != "" {
			t.Errorf("round %d: a cached key while the issuer throttles: got %q, want accepted", round, got)
		}
		if n := iss.KeyFetches(); n != 2+round {
			t.Errorf("round %d: JWKS fetches: got %d, want %d (one attempt per interval)", round, n, 2+round)
		}
	}
	iss.Throttle(false)
	flood(t, v, forged(t, iss, 2, 20), 4, "unavailable") // the refusal is replayed until the interval ends
	c.advance(auth.DefaultRefreshInterval)
	await(t, v, "a forged kid, issuer back", iss.Forged(t, "joe", "first"), badSignature)
	flood(t, v, forged(t, iss, 3, 20), 4, badSignature)
	if n := iss.KeyFetches(); n != 4 {
		t.Errorf("after the issuer recovered: JWKS fetches: got %d, want 4", n)
	}

	iss.Throttle(true)
	c.advance(auth.DefaultKeyCacheTTL + time.Minute)
	for i := range 50 {
		if got := reason(t, v, valid); got != "unavailable" {
			t.Fatalf("request %d: a cached key after the cache's lifetime, issuer throttling: got %q, want unavailable", i, got)
		}
	}
	if n := iss.KeyFetches(); n != 5 {
		t.Errorf("after the cache's lifetime: JWKS fetches: got %d, want 5", n)
	}
	iss.Throttle(false)
	c.advance(auth.DefaultRefreshInterval)
	await(t, v, "the issuer back, one interval later", valid, "")
}

// TestRefreshIntervalConfigured: a rotated key is picked up exactly when the
// configured interval since the last fetch has passed.
func TestRefreshIntervalConfigured(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	c := newClock()
	v := auth.New(auth.Config{IssuerURL: iss.URL, Audience: audience, Now: c.now, RefreshInterval: time.Second})
	if got := reason(t, v, iss.Token(t, "joe", nil)); got != "" {
		t.Fatalf("first token: got %q, want accepted", got)
	}
	iss.Rotate(t, "rsa-2")
	rotated := iss.Token(t, "joe", nil)
	c.advance(time.Second - time.Millisecond)
	if got := reason(t, v, rotated); got != badSignature {
		t.Errorf("the new key just before the interval: got %q, want %q", got, badSignature)
	}
	c.advance(time.Millisecond)
	await(t, v, "the new key at the interval", rotated, "")
	if n := iss.KeyFetches(); n != 2 {
		t.Errorf("JWKS fetches: got %d, want 2", n)
	}
}
