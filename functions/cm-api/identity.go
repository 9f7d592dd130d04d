package main

import (
	"cmp"
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

const (
	// kubernetesIssuer is the cluster's service-account issuer, Knative's
	// default (knative.dev/eventing pkg/apis/feature, DefaultOIDCDiscoveryBaseURL).
	kubernetesIssuer = "https://kubernetes.default.svc"
	// kubernetesKeys is where the API server serves those keys itself, to
	// every service account (kubernetes pkg/serviceaccount/openidmetadata.go,
	// JWKSPath; the system:service-account-issuer-discovery binding). Its
	// discovery's jwks_uri often names another host.
	kubernetesKeys = kubernetesIssuer + "/openid/v1/jwks"
	// serviceAccountDir holds the pod's own token and the cluster CA.
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// callers is who may make one kind of request: the events (POST /, prefix
// EVENTS) or the reads (GET /buyList, PUT /claims, prefix READS). A nil
// Verifier lets every caller in.
type callers struct {
	Verifier *auth.Verifier
	Subjects []string // <PREFIX>_ALLOWED_SUBJECTS: empty = any subject
	Prefix   string   // EVENTS or READS, named in refusals
	Only     string   // who is let in, said in a 401: "events only from its KafkaSource"
}

// loadCallers turns what <prefix>_* say (cfg, read in config.go) into
// callers: <prefix>_AUDIENCE turns the check on; the issuer is
// <prefix>_ISSUER_URL (default the API server, its keys then from
// kubernetesKeys), or <prefix>_JWKS_URL with <prefix>_ISSUER.
func loadCallers(r *env.Reader, prefix, only string, cfg auth.Config, subjects []string, saDir string) (auth.Config, callers) {
	cfg.DiscoveredIssuer = true
	off := callers{Prefix: prefix, Only: only}
	if cfg.Audience == "" {
		if cfg.JWKSURL != "" || len(subjects) > 0 || cfg.IssuerURL != "" {
			r.Fail("%[1]s_ISSUER_URL, %[1]s_JWKS_URL and %[1]s_ALLOWED_SUBJECTS need %[1]s_AUDIENCE", prefix)
		}
		return cfg, off
	}
	if cfg.JWKSURL == "" {
		cfg.IssuerURL = cmp.Or(cfg.IssuerURL, kubernetesIssuer)
		if strings.TrimSuffix(cfg.IssuerURL, "/") == kubernetesIssuer {
			cfg.KeysURL = kubernetesKeys
		}
	}
	if err := cfg.Check(prefix); err != nil {
		r.Fail("%v", err)
		return cfg, off
	}
	target := cmp.Or(cfg.IssuerURL, cfg.JWKSURL)
	client, err := apiServerClient(target, saDir)
	if err != nil {
		r.Fail("%s_ISSUER_URL: %v", prefix, err)
	}
	cfg.Client = client
	return cfg, callers{Verifier: auth.New(cfg), Subjects: subjects, Prefix: prefix, Only: only}
}

// apiServerClient fetches discovery and keys. Like Knative's verifier, it
// trusts the cluster CA and sends the pod's token, but only to the host of
// the configured URL.
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

// requireCaller answers 401 without a valid token for the callers'
// audience, 403 when its subject is not allowed, and 503 when the issuer's
// keys cannot be fetched (the only one a KafkaSource retries).
func requireCaller(log *slog.Logger, c callers, next http.Handler) http.Handler {
	if c.Verifier == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := auth.BearerToken(r.Header)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cm-api"`)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusUnauthorized,
				Message: "missing bearer token: cm-api takes " + c.Only})
			return
		}
		tok, err := c.Verifier.Verify(r.Context(), token)
		var invalid *auth.InvalidError
		switch {
		case errors.As(err, &invalid):
			log.Warn("caller refused", "callers", c.Prefix, "reason", invalid.Reason, "err", invalid.Err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="cm-api", error="invalid_token", error_description="`+invalid.Reason+`"`)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusUnauthorized, Message: invalid.Error()})
		case err != nil:
			server.Fail(w, r, log, &server.Problem{Status: http.StatusServiceUnavailable,
				Message: "the caller's token cannot be checked now", RetryAfter: 5 * time.Second, Err: err})
		case len(c.Subjects) > 0 && !slices.Contains(c.Subjects, tok.Subject):
			log.Warn("caller not allowed", "callers", c.Prefix, "subject", tok.Subject)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusForbidden,
				Message: "this caller may not make this request here (" + c.Prefix + "_ALLOWED_SUBJECTS)"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}
