package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// kubernetesIssuer is where the cluster's service-account issuer is
// discovered: the API server, as Knative's own default
// (knative.dev/eventing pkg/apis/feature, DefaultOIDCDiscoveryBaseURL).
const kubernetesIssuer = "https://kubernetes.default.svc"

// serviceAccountDir holds the pod's own token and the cluster CA.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// senders is who may POST events to cm-api: tokens for EVENTS_AUDIENCE from
// the cluster's service-account issuer, optionally only from
// EVENTS_ALLOWED_SUBJECTS. A nil Verifier lets every sender in.
type senders struct {
	Verifier *auth.Verifier
	Subjects []string // EVENTS_ALLOWED_SUBJECTS: empty = any subject
}

// loadSenders reads EVENTS_*: EVENTS_AUDIENCE turns the check on; the
// issuer is EVENTS_ISSUER_URL (discovery), or EVENTS_JWKS_URL with
// EVENTS_ISSUER.
func loadSenders(r *env.Reader, saDir string) (auth.Config, senders) {
	cfg := auth.Config{Audience: r.String("EVENTS_AUDIENCE", ""), JWKSURL: r.String("EVENTS_JWKS_URL", ""),
		Issuer: r.String("EVENTS_ISSUER", ""), DiscoveredIssuer: true,
		RefreshInterval: r.Duration("EVENTS_JWKS_REFRESH_INTERVAL", auth.DefaultRefreshInterval)}
	subjects := r.List("EVENTS_ALLOWED_SUBJECTS", "")
	if cfg.Audience == "" {
		if cfg.JWKSURL != "" || len(subjects) > 0 || r.String("EVENTS_ISSUER_URL", "") != "" {
			r.Fail("EVENTS_ISSUER_URL, EVENTS_JWKS_URL and EVENTS_ALLOWED_SUBJECTS need EVENTS_AUDIENCE")
		}
		return cfg, senders{}
	}
	if cfg.JWKSURL == "" {
		cfg.IssuerURL = r.String("EVENTS_ISSUER_URL", kubernetesIssuer)
	}
	if err := cfg.Check("EVENTS"); err != nil {
		r.Fail("%v", err)
		return cfg, senders{}
	}
	target := cfg.IssuerURL
	if target == "" {
		target = cfg.JWKSURL
	}
	client, err := apiServerClient(target, saDir)
	if err != nil {
		r.Fail("EVENTS_ISSUER_URL: %v", err)
	}
	cfg.Client = client
	return cfg, senders{Verifier: auth.New(cfg), Subjects: subjects}
}

// apiServerClient fetches discovery and keys. Like Knative's verifier, it
// trusts the cluster CA and sends the pod's own service-account token, but
// only to the host of the configured issuer (or JWKS) URL: a jwks_uri on
// another host gets no credential.
func apiServerClient(issuer, saDir string) (*http.Client, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", issuer, err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt")); err == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("no certificate in %s", filepath.Join(saDir, "ca.crt"))
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &podToken{base: base, host: u.Host, file: filepath.Join(saDir, "token")}}, nil
}

// podToken adds the pod's service-account token, read at each request
// because the kubelet rotates it, to requests for host over https.
type podToken struct {
	base http.RoundTripper
	host string
	file string
}

func (p *podToken) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == p.host && req.URL.Scheme == "https" {
		if token, err := os.ReadFile(p.file); err == nil {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		}
	}
	return p.base.RoundTrip(req)
}

// requireSender answers 401 unless the request carries a valid token for
// the events audience, 403 when its subject is not allowed, and 503 when
// the issuer's keys cannot be fetched (the source retries a 503, and does
// not retry a 401 or 403: such events go to the dead-letter sink).
func requireSender(log *slog.Logger, s senders, next http.Handler) http.Handler {
	if s.Verifier == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := auth.BearerToken(r.Header)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cm-api"`)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusUnauthorized,
				Message: "missing bearer token: cm-api takes events only from its KafkaSource"})
			return
		}
		tok, err := s.Verifier.Verify(r.Context(), token)
		var invalid *auth.InvalidError
		switch {
		case errors.As(err, &invalid):
			log.Warn("event sender refused", "reason", invalid.Reason, "err", invalid.Err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="cm-api", error="invalid_token", error_description="`+invalid.Reason+`"`)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusUnauthorized, Message: invalid.Error()})
		case err != nil:
			server.Fail(w, r, log, &server.Problem{Status: http.StatusServiceUnavailable,
				Message: "the sender's token cannot be checked now", RetryAfter: 5 * time.Second, Err: err})
		case len(s.Subjects) > 0 && !slices.Contains(s.Subjects, tok.Subject):
			log.Warn("event sender not allowed", "subject", tok.Subject)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusForbidden,
				Message: "this sender may not send events here (EVENTS_ALLOWED_SUBJECTS)"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}
