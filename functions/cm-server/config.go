package main

import (
	"crypto/x509"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// config is everything cm-server reads from its environment.
type config struct {
	server.Runtime               // PORT, LOG_LEVEL, DRAIN_TIMEOUT, K_SERVICE, K_REVISION
	Sink           string        // K_SINK: set by a SinkBinding; selects the HTTP transport
	SinkCACerts    string        // K_CA_CERTS: PEM the SinkBinding injects for an https sink
	Kafka          broker.Config // KAFKA_BROKERS: the direct transport when K_SINK is unset
	Topic          string        // KAFKA_TOPIC
	CMAPIURL       string        // CM_API_URL
	CMAPITimeout   time.Duration // CM_API_TIMEOUT
	CMAPITokenFile string        // CM_API_TOKEN_FILE: cm-server's token for cm-api; "" = none
	SendTimeout    time.Duration // SEND_TIMEOUT: longest wait for the broker's ack
	APIKeys        apiKeys       // API_KEYS, API_KEYS_FILE: none = no authentication
	Auth           auth.Config   // AUTH_ISSUER_URL or AUTH_JWKS_URL + AUTH_ISSUER, AUTH_AUDIENCE
	Shoppers       shoppers      // AUTH_USERNAME_CLAIM, AUTH_ADMIN_CLAIM, AUTH_ADMIN_VALUE
	RateLimit      float64       // BUY_RATE_LIMIT: purchases per second per caller; 0 = off
	RateBurst      int           // BUY_RATE_BURST
	RequestLimit   float64       // REQUEST_RATE_LIMIT: requests per second per address; 0 = off
	RequestBurst   int           // REQUEST_RATE_BURST
	FailureLimit   float64       // AUTH_FAILURE_LIMIT: failed authentications per second per address; 0 = off
	FailureBurst   int           // AUTH_FAILURE_BURST
	Proxies        proxies       // FORWARDED_FOR_HOPS, FORWARDED_FOR_TRUSTED: who the client is
}

func loadConfig(lookup env.Lookup) (config, error) {
	r := env.NewReader(lookup)
	cfg := config{
		Runtime:        server.ReadRuntime(r, "cm-server", server.MetricsPortServer),
		Sink:           r.String("K_SINK", ""),
		SinkCACerts:    r.String("K_CA_CERTS", ""),
		Topic:          r.String("KAFKA_TOPIC", "purchases"),
		CMAPIURL:       strings.TrimRight(r.String("CM_API_URL", "http://localhost:8081"), "/"),
		CMAPITimeout:   r.Duration("CM_API_TIMEOUT", 5*time.Second),
		CMAPITokenFile: r.String("CM_API_TOKEN_FILE", ""),
		SendTimeout:    r.Duration("SEND_TIMEOUT", 15*time.Second),
	}
	cfg.Kafka = broker.FromEnv(r, "localhost:9092", cfg.Service)
	keys, err := loadAPIKeys(r.List("API_KEYS", ""), r.String("API_KEYS_FILE", ""))
	if err != nil {
		r.Fail("%v", err)
	}
	cfg.APIKeys = keys
	cfg.loadShoppers(r)
	cfg.loadLimits(r)
	if u, err := url.Parse(cfg.CMAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail("CM_API_URL=%q: want an http(s) URL", cfg.CMAPIURL)
	}
	if cfg.Sink != "" {
		if u, err := url.Parse(cfg.Sink); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			r.Fail("K_SINK=%q: want an http(s) URL", cfg.Sink)
		}
		if cfg.SinkCACerts != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(cfg.SinkCACerts)) {
			r.Fail("K_CA_CERTS: no PEM certificate found")
		}
	} else if err := cfg.Kafka.Validate(); err != nil {
		r.Fail("KAFKA_BROKERS: %v", err)
	}
	return cfg, r.Err()
}

// loadLimits reads the rate limits and how to find the client's address.
// Every limit is off by default: make run and the load generator send
// everything from one address.
func (c *config) loadLimits(r *env.Reader) {
	c.RateLimit = r.Float("BUY_RATE_LIMIT", 0, 0, 1e6)
	c.RateBurst = r.Int("BUY_RATE_BURST", max(1, int(2*c.RateLimit)), 1, 1e6)
	c.RequestLimit = r.Float("REQUEST_RATE_LIMIT", 0, 0, 1e6)
	c.RequestBurst = r.Int("REQUEST_RATE_BURST", max(1, int(2*c.RequestLimit)), 1, 1e6)
	c.FailureLimit = r.Float("AUTH_FAILURE_LIMIT", 0, 0, 1e6)
	c.FailureBurst = r.Int("AUTH_FAILURE_BURST", 10, 1, 1e6)
	if r.String("TRUST_FORWARDED_FOR", "") != "" {
		r.Fail("TRUST_FORWARDED_FOR is no longer read: set FORWARDED_FOR_HOPS and FORWARDED_FOR_TRUSTED (docs/security.md)")
	}
	c.Proxies.hops = r.Int("FORWARDED_FOR_HOPS", 0, 0, 10)
	trusted, err := parseTrusted(r.List("FORWARDED_FOR_TRUSTED", "127.0.0.0/8,::1/128"))
	if err != nil {
		r.Fail("FORWARDED_FOR_TRUSTED: %v", err)
	}
	for _, n := range trusted {
		if n.Bits() < 8 {
			r.Fail("FORWARDED_FOR_TRUSTED: %s trusts nearly every address, so any client could write its own: list the proxies' networks", n)
		}
	}
	c.Proxies.trusted = trusted
}

// loadShoppers reads the OpenID Connect settings for shoppers' tokens.
func (c *config) loadShoppers(r *env.Reader) {
	c.Auth = auth.Config{IssuerURL: r.String("AUTH_ISSUER_URL", ""), JWKSURL: r.String("AUTH_JWKS_URL", ""),
		Issuer: r.String("AUTH_ISSUER", ""), Audience: r.String("AUTH_AUDIENCE", ""),
		RefreshInterval: r.Duration("AUTH_JWKS_REFRESH_INTERVAL", auth.DefaultRefreshInterval)}
	if err := c.Auth.Check("AUTH"); err != nil {
		r.Fail("%v", err)
	}
	c.Shoppers = shoppers{Verifier: auth.New(c.Auth), UsernameClaim: r.String("AUTH_USERNAME_CLAIM", ""),
		AdminClaim: r.String("AUTH_ADMIN_CLAIM", ""), AdminValue: r.String("AUTH_ADMIN_VALUE", "")}
	// No default: preferred_username is editable by users at some
	// providers, and which claim cannot change differs (docs/security.md).
	if c.Shoppers.Verifier != nil && c.Shoppers.UsernameClaim == "" {
		r.Fail("AUTH_USERNAME_CLAIM is required with AUTH_ISSUER_URL or AUTH_JWKS_URL: name a claim your provider does not let users change, such as sub (docs/security.md)")
	}
	if (c.Shoppers.AdminClaim == "") != (c.Shoppers.AdminValue == "") {
		r.Fail("AUTH_ADMIN_CLAIM and AUTH_ADMIN_VALUE: set both or neither")
	}
}

// source is the CloudEvents source of every event this function sends.
func (c config) source() string { return "/scalable-shop/" + c.Service }

// transport names the way events leave this function.
func (c config) transport() string {
	if c.Sink != "" {
		return "http"
	}
	return "kafka"
}

// logValue is the effective configuration as logged at start-up. URLs are
// logged without user info, which could hold credentials.
func (c config) logValue() slog.Value {
	return slog.GroupValue(
		slog.String("port", c.Port), slog.String("log_level", c.LogLevel), slog.String("debug_pprof_addr", c.Pprof),
		slog.String("transport", c.transport()), slog.String("sink", env.RedactURL(c.Sink)),
		slog.Bool("sink_ca_certs", c.SinkCACerts != ""),
		slog.Any("kafka", c.Kafka.LogValue()), slog.String("kafka_topic", c.Topic),
		slog.String("cm_api_url", env.RedactURL(c.CMAPIURL)), slog.Duration("cm_api_timeout", c.CMAPITimeout),
		slog.String("cm_api_token_file", c.CMAPITokenFile),
		slog.Duration("send_timeout", c.SendTimeout), slog.Int("api_keys", len(c.APIKeys.digests)),
		slog.Float64("buy_rate_limit", c.RateLimit), slog.Int("buy_rate_burst", c.RateBurst),
		slog.Float64("request_rate_limit", c.RequestLimit), slog.Int("request_rate_burst", c.RequestBurst),
		slog.Float64("auth_failure_limit", c.FailureLimit), slog.Int("auth_failure_burst", c.FailureBurst),
		slog.Int("forwarded_for_hops", c.Proxies.hops), slog.Any("forwarded_for_trusted", c.Proxies.trusted),
		slog.String("revision", c.Revision),
		slog.String("auth_issuer_url", c.Auth.IssuerURL), slog.String("auth_jwks_url", c.Auth.JWKSURL),
		slog.String("auth_audience", c.Auth.Audience), slog.Duration("auth_jwks_refresh_interval", c.Auth.RefreshInterval),
		slog.String("auth_username_claim", c.Shoppers.UsernameClaim),
		slog.String("auth_admin_claim", c.Shoppers.AdminClaim),
	)
}
