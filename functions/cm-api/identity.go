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

// kubernetesIssuer is where the cluster's service-account issuer is
// discovered: the API server, as Knative's own default
// (knative.dev/eventing pkg/apis/feature, DefaultOIDCDiscoveryBaseURL).
const kubernetesIssuer = "https://kubernetes.default.svc"

// kubernetesKeys is where the API server serves its service-account keys
// itself (kubernetes/kubernetes pkg/serviceaccount/openidmetadata.go,
// JWKSPath; routes installed by pkg/routes/openidmetadata.go), for any
// service account to read (the ClusterRoleBinding
// system:service-account-issuer-discovery to the group
// system:serviceaccounts, plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
// policy.go). Its discovery document's jwks_uri often names another host.
const kubernetesKeys = kubernetesIssuer + "/openid/v1/jwks"

// serviceAccountDir holds the pod's own token and the cluster CA.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// callers is who may make one kind of request to cm-api: tokens for
// <PREFIX>_AUDIENCE from the cluster's service-account issuer, optionally
// only from <PREFIX>_ALLOWED_SUBJECTS. A nil Verifier lets every caller in.
// The events (POST /) are the KafkaSource's, prefix EVENTS; the reads
// (GET /buyList, PUT /claims) cm-server's, prefix READS.
type callers struct {
	Verifier *auth.Verifier
	Subjects []string // <PREFIX>_ALLOWED_SUBJECTS: empty = any subject
	Prefix   string   // EVENTS or READS, named in refusals
	Only     string   // who is let in, said in a 401: "events only from its KafkaSource"
}

// callerEnv is what <PREFIX>_* say, read where the names are spelt out
// (config.go), so that a test finds every variable cm-api reads.
type callerEnv struct {
	Audience, IssuerURL, JWKSURL, Issuer string
	Subjects                             []string
	RefreshInterval                      time.Duration // <PREFIX>_JWKS_REFRESH_INTERVAL
}

// loadCallers turns <prefix>_* into callers: <prefix>_AUDIENCE turns the
// check on; the issuer is <prefix>_ISSUER_URL (discovery, default the API
// server), or <prefix>_JWKS_URL with <prefix>_ISSUER. At the API server the
// issuer's name comes from discovery and the keys from the API server
// itself, where the pod's token goes, whatever host jwks_uri names.
func loadCallers(r *env.Reader, prefix, only string, e callerEnv, saDir string) (auth.Config, callers) {
	cfg := auth.Config{Audience: e.Audience, JWKSURL: e.JWKSURL, Issuer: e.Issuer, DiscoveredIssuer: true,
		RefreshInterval: e.RefreshInterval}
	off := callers{Prefix: prefix, Only: only}
	if cfg.Audience == "" {
		if e.JWKSURL != "" || len(e.Subjects) > 0 || e.IssuerURL != "" {
			r.Fail("%[1]s_ISSUER_URL, %[1]s_JWKS_URL and %[1]s_ALLOWED_SUBJECTS need %[1]s_AUDIENCE", prefix)
		}
		return cfg, off
	}
	if cfg.JWKSURL == "" {
		cfg.IssuerURL = cmp.Or(e.IssuerURL, kubernetesIssuer)
		if strings.TrimSuffix(cfg.IssuerURL, "/") == kubernetesIssuer {
			cfg.KeysURL = kubernetesKeys
		}
	} else if e.IssuerURL != "" {
		cfg.IssuerURL = e.IssuerURL // Check refuses both
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
	return cfg, callers{Verifier: auth.New(cfg), Subjects: e.Subjects, Prefix: prefix, Only: only}
}

// apiServerClient fetches discovery and keys. Like Knative's verifier, it
// trusts the cluster CA and sends the pod's own service-account token, but
// only to the host of the configured issuer (or JWKS) URL: a jwks_uri on
// another host gets no credential (and at the API server is not asked:
// KeysURL).
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

// requireCaller answers 401 unless the request carries a valid token for
// the callers' audience, 403 when its subject is not allowed, and 503 when
// the issuer's keys cannot be fetched. The KafkaSource retries a 503, and
// does not retry a 401 or 403: such events go to the dead-letter sink;
// cm-server answers its shopper a 5xx for any of them.
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
