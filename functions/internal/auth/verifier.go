package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// retryDiscovery is how long a failed discovery is answered from memory, so
// a down issuer is not asked again by every request.
const retryDiscovery = time.Second

// Verifier checks bearer tokens against one issuer. It is safe for
// concurrent use; a nil *Verifier is a disabled one.
type Verifier struct {
	cfg        Config
	now        func() time.Time
	client     *http.Client // discovery
	keysClient *http.Client // the JWKS, at most once per RefreshInterval
	// unreachable is true from a failed JWKS fetch until one succeeds;
	// lastFetch is when the last one succeeded.
	unreachable atomic.Bool
	lastFetch   atomic.Int64

	mu        sync.Mutex
	issuer    string
	jwksURL   string
	keys      *oidc.RemoteKeySet
	keysSince time.Time
	failedAt  time.Time
	failure   error
}

// New returns a Verifier for cfg, or nil when cfg names no issuer. Discovery
// happens on the first token, so start-up never waits on the issuer.
func New(cfg Config) *Verifier {
	if !cfg.Enabled() {
		return nil
	}
	v := &Verifier{cfg: cfg, now: cfg.Now}
	if v.now == nil {
		v.now = time.Now
	}
	v.client = cfg.Client
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	next := v.client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	// A replayed answer must not outlive the key cache, even without Check.
	throttled := *v.client
	throttled.Transport = &throttle{next: next, interval: min(cfg.refreshInterval(), DefaultKeyCacheTTL), v: v}
	v.keysClient = &throttled
	return v
}

// Verify checks raw's signature, algorithm, issuer, audience, expiry and
// not-before. It returns *InvalidError for a token to refuse and an error
// wrapping ErrUnavailable when the keys needed could not be fetched.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	keys, issuer, err := v.keySet(ctx)
	if err != nil {
		return nil, err
	}
	p := &probe{keys: keys}
	verifier := oidc.NewVerifier(issuer, p, &oidc.Config{ClientID: v.cfg.Audience,
		SupportedSigningAlgs: Algorithms, SkipExpiryCheck: true, Now: v.now})
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, v.explain(err, p, issuer)
	}
	var times timeClaims
	if err := tok.Claims(&times); err != nil {
		return nil, &InvalidError{Reason: "unreadable claims", Err: err}
	}
	if err := checkTimes(times, v.now()); err != nil {
		return nil, err
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return nil, &InvalidError{Reason: "unreadable claims", Err: err}
	}
	return &Token{Subject: tok.Subject, claims: claims}, nil
}

// probe is the key set of one verification; it remembers what the keys said.
type probe struct {
	keys    *oidc.RemoteKeySet
	reached bool
	payload []byte
}

func (p *probe) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	p.reached = true
	payload, err := p.keys.VerifySignature(ctx, jwt)
	if err == nil {
		p.payload = payload
	}
	return payload, err
}

// explain turns go-oidc's error into a reason that names what failed.
func (v *Verifier) explain(err error, p *probe, issuer string) error {
	switch {
	case !p.reached:
		return &InvalidError{Reason: "malformed, or not signed with " + strings.Join(Algorithms, " or "), Err: err}
	case p.payload == nil && v.unreachable.Load():
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case p.payload == nil:
		return &InvalidError{Reason: "bad signature: no key of the issuer verifies it", Err: err}
	}
	var c timeClaims
	if json.Unmarshal(p.payload, &c) != nil {
		return &InvalidError{Reason: "unreadable claims", Err: err}
	}
	if c.Issuer != issuer {
		return &InvalidError{Reason: "wrong issuer", Err: err}
	}
	if !slices.Contains(c.Audience, v.cfg.Audience) {
		return &InvalidError{Reason: "wrong audience", Err: err}
	}
	return &InvalidError{Reason: "claims refused", Err: err}
}

// keySet returns the keys and the issuer, discovering them first. Keys
// older than DefaultKeyCacheTTL are dropped for an empty cache.
func (v *Verifier) keySet(ctx context.Context) (*oidc.RemoteKeySet, string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if v.jwksURL == "" {
		if v.failure != nil && now.Sub(v.failedAt) < retryDiscovery {
			return nil, "", v.failure
		}
		if err := v.discover(ctx); err != nil {
			v.failedAt, v.failure = now, fmt.Errorf("%w: discovery: %v", ErrUnavailable, err)
			return nil, "", v.failure
		}
	}
	fresh := max(v.keysSince.UnixNano(), v.lastFetch.Load())
	if v.keys == nil || now.Sub(time.Unix(0, fresh)) > DefaultKeyCacheTTL {
		v.keys = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.keysClient), v.jwksURL)
		v.keysSince = now
	}
	return v.keys, v.issuer, nil
}

// discover finds the issuer and the JWKS URL: KeysURL when set, else the
// document's jwks_uri.
func (v *Verifier) discover(ctx context.Context) error {
	if v.cfg.JWKSURL != "" {
		v.issuer, v.jwksURL = v.cfg.Issuer, v.cfg.JWKSURL
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURL string `json:"jwks_uri"`
	}
	at := strings.TrimSuffix(v.cfg.IssuerURL, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", at, err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", at, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %d", at, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("decode %s: %w", at, err)
	}
	if doc.Issuer != v.cfg.IssuerURL && !v.cfg.DiscoveredIssuer {
		return fmt.Errorf("discovery document at %s names issuer %q, want %q", at, doc.Issuer, v.cfg.IssuerURL)
	}
	if v.cfg.KeysURL != "" {
		v.issuer, v.jwksURL = doc.Issuer, v.cfg.KeysURL
		return nil
	}
	if doc.JWKSURL == "" {
		return fmt.Errorf("discovery document at %s names no jwks_uri", at)
	}
	if err := checkURL(doc.JWKSURL); err != nil {
		return fmt.Errorf("discovery document at %s: jwks_uri %w", at, err)
	}
	v.issuer, v.jwksURL = doc.Issuer, doc.JWKSURL
	return nil
}

// throttle is the transport of the JWKS fetches. go-oidc fetches the JWKS
// for every token whose kid its cache lacks, merging only overlapping
// fetches (go-oidc v3.21.0 oidc/jwks.go, keysFromRemote), so forged kids
// could make a fetch every few requests. throttle sends one request per
// interval to the issuer and answers the others with a copy of its answer,
// keys or failure, as the issuer itself said a moment ago.
//
// Only real answers update the Verifier's unreachable and lastFetch, so the
// key cache's lifetime counts from the issuer's last answer.
type throttle struct {
	next     http.RoundTripper
	interval time.Duration
	v        *Verifier

	mu   sync.Mutex // held during the fetch: callers meanwhile get its answer
	at   time.Time  // when the last request went to the issuer
	last *answer    // nil before the first
}

// answer is what the issuer said: a response, read whole as go-oidc reads
// it, or an error.
type answer struct {
	status string
	code   int
	header http.Header
	body   []byte
	err    error
}

func (t *throttle) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := t.v.now(); t.last == nil || now.Sub(t.at) >= t.interval {
		t.last, t.at = t.fetch(req), now
	}
	if t.last.err != nil {
		return nil, t.last.err
	}
	return &http.Response{Status: t.last.status, StatusCode: t.last.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: t.last.header.Clone(),
		Body: io.NopCloser(bytes.NewReader(t.last.body)), ContentLength: int64(len(t.last.body)), Request: req}, nil
}

// fetch asks the issuer and records whether it answered, so a failed
// signature check can tell "no key fits" (401) from "no keys" (503).
func (t *throttle) fetch(req *http.Request) *answer {
	resp, err := t.next.RoundTrip(req)
	ok := err == nil && resp.StatusCode == http.StatusOK
	t.v.unreachable.Store(!ok)
	if ok {
		t.v.lastFetch.Store(t.v.now().UnixNano())
	}
	if err != nil {
		return &answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return &answer{err: err}
	}
	return &answer{status: resp.Status, code: resp.StatusCode, header: resp.Header, body: body}
}
