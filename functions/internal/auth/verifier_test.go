package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
)

const audience = "scalable-shop"

func verifier(iss *authtest.Issuer) *auth.Verifier {
	return auth.New(auth.Config{IssuerURL: iss.URL, Audience: audience})
}

// reason returns "" for an accepted token, the InvalidError's reason, or
// "unavailable".
func reason(t *testing.T, v *auth.Verifier, token string) string {
	t.Helper()
	_, err := v.Verify(context.Background(), token)
	var invalid *auth.InvalidError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &invalid):
		if strings.Contains(invalid.Reason, token) {
			t.Errorf("the reason %q contains the token", invalid.Reason)
		}
		return invalid.Reason
	case errors.Is(err, auth.ErrUnavailable):
		return "unavailable"
	}
	t.Fatalf("Verify: unexpected error %v", err)
	return ""
}

func TestVerifyTokens(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	v := verifier(iss)
	now := time.Now()
	tests := []struct {
		name, token, want string
	}{
		{"rs256_accepted", iss.Token(t, "joe", nil), ""},
		{"es256_accepted", iss.ES256(t, "joe", nil), ""},
		{"audience_in_list_accepted", iss.Token(t, "joe", authtest.Claims{"aud": []string{"other", audience}}), ""},
		{"expired_within_skew_accepted", iss.Token(t, "joe", authtest.Claims{"exp": now.Add(-30 * time.Second).Unix()}), ""},
		{"expired_refused", iss.Expired(t, "joe"), "expired"},
		{"no_exp_refused", iss.Token(t, "joe", authtest.Claims{"exp": nil}), "no expiry (exp)"},
		{"nbf_future_refused", iss.Token(t, "joe", authtest.Claims{"nbf": now.Add(10 * time.Minute).Unix()}), "not valid yet (nbf)"},
		{"nbf_within_skew_accepted", iss.Token(t, "joe", authtest.Claims{"nbf": now.Add(30 * time.Second).Unix()}), ""},
		{"wrong_audience_refused", iss.Token(t, "joe", authtest.Claims{"aud": "another-app"}), "wrong audience"},
		{"wrong_issuer_refused", iss.Token(t, "joe", authtest.Claims{"iss": "https://evil.example"}), "wrong issuer"},
		{"alg_none_refused", iss.None(t, "joe"), "malformed, or not signed with RS256 or ES256"},
		{"hmac_with_public_key_refused", iss.HMAC(t, "joe"), "malformed, or not signed with RS256 or ES256"},
		{"foreign_key_refused", iss.Foreign(t, "joe"), badSignature},
		{"garbage_refused", "not.a.jwt", "malformed, or not signed with RS256 or ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reason(t, v, tt.token); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	tok, err := verifier(iss).Verify(context.Background(),
		iss.Token(t, "ann", authtest.Claims{"groups": []string{"staff", "support"}, "shop_admin": true}))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.String("preferred_username"); got != "ann" {
		t.Errorf("preferred_username: got %q, want ann", got)
	}
	if tok.Subject != "user-ann" {
		t.Errorf("subject: got %q, want user-ann", tok.Subject)
	}
	for _, c := range []struct {
		claim, value string
		want         bool
	}{{"groups", "support", true}, {"groups", "admins", false}, {"shop_admin", "true", true},
		{"preferred_username", "ann", true}, {"missing", "x", false}} {
		if got := tok.Has(c.claim, c.value); got != c.want {
			t.Errorf("Has(%s, %s): got %v, want %v", c.claim, c.value, got, c.want)
		}
	}
}

// badSignature is the reason of a token no key held verifies.
const badSignature = "bad signature: no key of the issuer verifies it"

// clock stands still but for the offset the test moves it by.
type clock struct {
	start  time.Time
	offset atomic.Int64
}

func newClock() *clock                   { return &clock{start: time.Now()} }
func (c *clock) now() time.Time          { return c.start.Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) elapsed() time.Duration  { return time.Duration(c.offset.Load()) }
func clocked(iss *authtest.Issuer, c *clock) *auth.Verifier {
	return auth.New(auth.Config{IssuerURL: iss.URL, Audience: audience, Now: c.now})
}

// await verifies token until the outcome is want, for at most a second.
// go-oidc hands a fetch's answer to the requests waiting on it a moment
// before it lets the next request start a fetch, and caches the new keys
// just after (github.com/coreos/go-oidc/v3 v3.21.0 oidc/jwks.go,
// keysFromRemote): the first request after an interval, or the first after a
// fetch, may still get the answer before.
func await(t *testing.T, v *auth.Verifier, what, token, want string) {
	t.Helper()
	got := ""
	for range 100 {
		if got = outcome(v, token); got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s: got %q, want %q", what, got, want)
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	c := newClock()
	v := clocked(iss, c)
	old := iss.Token(t, "joe", nil)
	if got := reason(t, v, old); got != "" {
		t.Fatalf("before rotation: got %q, want accepted", got)
	}
	iss.Rotate(t, "rsa-2")
	rotated := iss.Token(t, "joe", nil)
	if got := reason(t, v, rotated); got != badSignature {
		t.Errorf("the new key within the refresh interval: got %q, want %q (checked against the keys held)", got, badSignature)
	}
	c.advance(auth.DefaultRefreshInterval)
	await(t, v, "the new key after the refresh interval", rotated, "")
	await(t, v, "the withdrawn key", old, badSignature)
	if n := iss.KeyFetches(); n != 2 {
		t.Errorf("JWKS fetches: got %d, want 2 (first token, then the new key after the interval)", n)
	}
}

func TestIssuerOutage(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	c := newClock()
	v := clocked(iss, c)
	cached := iss.Token(t, "joe", authtest.Claims{"exp": time.Now().Add(3 * time.Hour).Unix()})
	if got := reason(t, v, cached); got != "" {
		t.Fatalf("while up: got %q, want accepted", got)
	}
	iss.Rotate(t, "rsa-2") // signs locally; the server never serves it
	rotated := iss.Token(t, "joe", nil)
	foreign := iss.Foreign(t, "joe")
	iss.Stop()
	c.advance(auth.DefaultRefreshInterval) // else the last answer, the keys, is replayed
	await(t, v, "an unknown kid, issuer down", rotated, "unavailable")
	for _, c := range []struct{ name, token, want string }{
		{"cached_key_still_accepted", cached, ""},
		{"unknown_kid_unavailable", rotated, "unavailable"},
		{"foreign_key_not_accepted", foreign, "unavailable"},
		{"alg_none_still_refused", iss.None(t, "joe"), "malformed, or not signed with RS256 or ES256"},
	} {
		if got := reason(t, v, c.token); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	c.advance(auth.DefaultKeyCacheTTL + time.Minute)
	if got := reason(t, v, cached); got != "unavailable" {
		t.Errorf("cached key after the cache expired: got %q, want unavailable", got)
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, audience)
	token := iss.Token(t, "joe", nil)
	localhost := strings.Replace(iss.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"jwks_url_without_discovery", auth.Config{JWKSURL: iss.URL + "/keys", Issuer: iss.URL, Audience: audience}, ""},
		{"jwks_url_other_issuer_refused", auth.Config{JWKSURL: iss.URL + "/keys", Issuer: "https://other", Audience: audience}, "wrong issuer"},
		{"issuer_mismatch_unavailable", auth.Config{IssuerURL: localhost, Audience: audience}, "unavailable"},
		{"discovered_issuer_accepted", auth.Config{IssuerURL: localhost, Audience: audience, DiscoveredIssuer: true}, ""},
		{"no_issuer_unavailable", auth.Config{IssuerURL: "http://127.0.0.1:1", Audience: audience}, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := reason(t, auth.New(tt.cfg), token); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"off", auth.Config{}, ""},
		{"discovery", auth.Config{IssuerURL: "https://idp.example", Audience: "shop"}, ""},
		{"both_urls", auth.Config{IssuerURL: "https://a", JWKSURL: "https://b", Issuer: "x", Audience: "shop"}, "set one, not both"},
		{"jwks_without_issuer", auth.Config{JWKSURL: "https://b", Audience: "shop"}, "needs AUTH_ISSUER"},
		{"no_audience", auth.Config{IssuerURL: "https://a"}, "AUTH_AUDIENCE is required"},
		{"not_a_url", auth.Config{IssuerURL: "idp.example", Audience: "shop"}, "want an https URL"},
		{"plain_http_refused", auth.Config{IssuerURL: "http://idp.example", Audience: "shop"}, "http only on a loopback address"},
		{"plain_http_jwks_refused", auth.Config{JWKSURL: "http://10.0.0.1/keys", Issuer: "x", Audience: "shop"}, "http only on a loopback address"},
		{"http_on_loopback", auth.Config{IssuerURL: "http://127.0.0.1:5556", Audience: "shop"}, ""},
		{"http_on_localhost", auth.Config{IssuerURL: "http://localhost:5556/dex", Audience: "shop"}, ""},
		{"refresh_interval_within_cache_life", auth.Config{IssuerURL: "https://a", Audience: "shop", RefreshInterval: time.Hour}, ""},
		{"refresh_interval_over_cache_life", auth.Config{IssuerURL: "https://a", Audience: "shop", RefreshInterval: 61 * time.Minute}, "AUTH_JWKS_REFRESH_INTERVAL=1h1m0s: at most the key cache lifetime"},
	}
	for _, tt := range tests {
		err := tt.cfg.Check("AUTH")
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	if auth.New(auth.Config{}) != nil {
		t.Error("New without an issuer: got a Verifier, want nil")
	}
}

// TestKeysURL: discovery names a jwks_uri on another host, as the Kubernetes
// API server names its advertise address; with KeysURL the issuer still comes
// from the document, the keys from KeysURL, and the other host is never asked.
func TestKeysURL(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		http.Error(w, "Unauthorized", http.StatusUnauthorized) // as the API server without a token
	}))
	t.Cleanup(other.Close)
	tests := []struct {
		name       string
		keysURL    string
		want       string
		wantIssuer int // JWKS fetches the issuer serves
		wantOther  bool
	}{
		{"keys_url_accepted", "/keys", "", 1, false},
		{"document_jwks_uri_unavailable", "", "unavailable", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := authtest.NewIssuer(t, audience)
			iss.NameJWKSURI(other.URL + "/openid/v1/jwks")
			cfg := auth.Config{IssuerURL: iss.URL, Audience: audience, DiscoveredIssuer: true}
			if tt.keysURL != "" {
				cfg.KeysURL = iss.URL + tt.keysURL
			}
			before := elsewhere.Load()
			if got := reason(t, auth.New(cfg), iss.Token(t, "joe", nil)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if n := iss.KeyFetches(); n != tt.wantIssuer {
				t.Errorf("JWKS fetches at the issuer: got %d, want %d", n, tt.wantIssuer)
			}
			if asked := elsewhere.Load() > before; asked != tt.wantOther {
				t.Errorf("the document's jwks_uri host asked: got %v, want %v", asked, tt.wantOther)
			}
		})
	}
	if err := (auth.Config{IssuerURL: "https://kubernetes.default.svc", Audience: "cm-api",
		KeysURL: "http://10.0.0.1/openid/v1/jwks"}).Check("READS"); err == nil || !strings.Contains(err.Error(), "http only on a loopback address") {
		t.Errorf("KeysURL over plain http: got %v, want refused", err)
	}
}
