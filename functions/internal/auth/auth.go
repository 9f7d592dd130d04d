// Package auth verifies OpenID Connect bearer tokens (JWTs) with
// github.com/coreos/go-oidc, for cm-server's shoppers and for the KafkaSource
// that sends cm-api its events. Keys come from the issuer's JWKS and are
// cached; when they cannot be fetched, no token gets in.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Algorithms are the only signature algorithms accepted: naming them keeps
// out "none" and HMAC (HS256 "signed" with the issuer's public key).
var Algorithms = []string{oidc.RS256, oidc.ES256}

const (
	// ClockSkew is how far exp and nbf may be off.
	ClockSkew = time.Minute
	// DefaultKeyCacheTTL is how long fetched keys are used without the
	// issuer, so a withdrawn key stops working even if no token names a new kid.
	DefaultKeyCacheTTL = time.Hour
	// DefaultRefreshInterval is the least time between two JWKS fetches, so
	// tokens with forged key ids cannot flood the issuer.
	DefaultRefreshInterval = 10 * time.Second
)

// ErrUnavailable means the issuer's discovery document or keys could not be
// fetched: answer 503, never accept.
var ErrUnavailable = errors.New("the token issuer's keys cannot be fetched")

// InvalidError says why a token was refused (answer 401). Reason never
// contains the token, so it is safe to show.
type InvalidError struct {
	Reason string
	Err    error // go-oidc's own error, for logs at debug level
}

func (e *InvalidError) Error() string { return "invalid token: " + e.Reason }
func (e *InvalidError) Unwrap() error { return e.Err }

// Config says where keys come from and what a token must say.
type Config struct {
	IssuerURL       string // the base URL for OIDC discovery
	JWKSURL, Issuer string // instead of discovery, for issuers without it
	Audience        string // one of the token's aud values
	// KeysURL, with IssuerURL, is where keys are fetched whatever jwks_uri
	// discovery names: the Kubernetes API server serves its keys at
	// /openid/v1/jwks but names its external address, a host a pod's
	// credential should not go to (kubernetes pkg/serviceaccount/openidmetadata.go).
	KeysURL string
	// DiscoveredIssuer accepts the issuer discovery names even when it is not
	// IssuerURL, as Knative does for the Kubernetes API server
	// (knative.dev/eventing pkg/auth/verifier.go, initOIDCProvider).
	DiscoveredIssuer bool
	// RefreshInterval defaults to DefaultRefreshInterval. Within it, a
	// token naming an unknown key id is checked against the keys held.
	RefreshInterval time.Duration
	Client          *http.Client     // fetches discovery and keys; nil: a 10-second timeout
	Now             func() time.Time // nil: time.Now
}

// Enabled reports whether an issuer is configured.
func (c Config) Enabled() bool { return c.IssuerURL != "" || c.JWKSURL != "" }

// Check reports a configuration that cannot work; prefix names its
// environment variables.
func (c Config) Check(prefix string) error {
	switch {
	case !c.Enabled():
		return nil
	case c.IssuerURL != "" && c.JWKSURL != "":
		return fmt.Errorf("%s_ISSUER_URL and %s_JWKS_URL: set one, not both", prefix, prefix)
	case c.JWKSURL != "" && c.Issuer == "":
		return fmt.Errorf("%s_JWKS_URL needs %s_ISSUER (the iss tokens carry)", prefix, prefix)
	case c.Audience == "":
		return fmt.Errorf("%s_AUDIENCE is required with an issuer", prefix)
	case c.RefreshInterval > DefaultKeyCacheTTL:
		return fmt.Errorf("%s_JWKS_REFRESH_INTERVAL=%s: at most the key cache lifetime, %s", prefix, c.RefreshInterval, DefaultKeyCacheTTL)
	}
	for _, u := range []string{c.IssuerURL, c.JWKSURL, c.KeysURL} {
		if u == "" {
			continue
		}
		if err := checkURL(u); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) refreshInterval() time.Duration {
	if c.RefreshInterval <= 0 {
		return DefaultRefreshInterval
	}
	return c.RefreshInterval
}

// checkURL accepts https, and http only on loopback (tests, a sidecar):
// keys fetched over plain http could be swapped on the way.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%q: want an https URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: want an https URL (http only on a loopback address)", raw)
}

func isLoopback(host string) bool {
	return host == "localhost" || net.ParseIP(host).IsLoopback()
}

// Token is a verified token's claims.
type Token struct {
	Subject string
	claims  map[string]any
}

// String returns a string claim, or "".
func (t *Token) String(claim string) string {
	s, _ := t.claims[claim].(string)
	return s
}

// Has reports whether claim is value, or a list containing value.
func (t *Token) Has(claim, value string) bool {
	switch c := t.claims[claim].(type) {
	case string:
		return c == value
	case bool:
		return fmt.Sprint(c) == value
	case []any:
		return slices.ContainsFunc(c, func(v any) bool { s, ok := v.(string); return ok && s == value })
	}
	return false
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(h http.Header) (string, bool) {
	scheme, token, _ := strings.Cut(h.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, strings.EqualFold(scheme, "Bearer") && token != ""
}

// timeClaims are the claims checked here rather than by go-oidc, which
// allows no skew on exp and five minutes on nbf.
type timeClaims struct {
	Issuer    string       `json:"iss"`
	Audience  oidcAudience `json:"aud"`
	Expiry    *json.Number `json:"exp"`
	NotBefore *json.Number `json:"nbf"`
}

// oidcAudience is aud, which may be one string or a list.
type oidcAudience []string

func (a *oidcAudience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	*a = many
	return nil
}

// checkTimes checks exp (required) and nbf against now with ClockSkew.
// go-oidc has already parsed both as numbers.
func checkTimes(c timeClaims, now time.Time) error {
	if c.Expiry == nil {
		return &InvalidError{Reason: "no expiry (exp)"}
	}
	if exp, _ := c.Expiry.Float64(); now.Add(-ClockSkew).After(time.Unix(int64(exp), 0)) {
		return &InvalidError{Reason: "expired"}
	}
	if c.NotBefore == nil {
		return nil
	}
	if nbf, _ := c.NotBefore.Float64(); now.Add(ClockSkew).Before(time.Unix(int64(nbf), 0)) {
		return &InvalidError{Reason: "not valid yet (nbf)"}
	}
	return nil
}
