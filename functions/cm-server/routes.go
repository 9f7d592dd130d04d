package main

import (
	_ "embed"
	"log/slog"
	"net/http"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

//go:embed openapi.yaml
var openAPI []byte

// route is one entry of the API; a test checks routes against openapi.yaml.
type route struct {
	pattern string
	handler http.Handler
}

// routes lists the API. Client routes are limited per address first
// (REQUEST_RATE_LIMIT), then by failed authentications (AUTH_FAILURE_LIMIT),
// and purchases per caller (BUY_RATE_LIMIT). The probes are not limited:
// they come from the queue-proxy on loopback, as every request does behind
// Knative, and a limited probe would take a healthy pod out of service.
func routes(log *slog.Logger, cfg config, snd sender, api *apiClient, ready *server.Readiness, m *telemetry.Metrics) []route {
	keys := countingClaimer{api, m.Counter("shop_key_claims_total",
		"Claims of a purchase's key (Idempotency-Key or CloudEvent source and id) in cm-api before it is sent: new, same (sent again), stored (answered, not sent), other (422) or failed (503, not sent).", "result")}
	address := cfg.Proxies.clientOf
	requests := newLimiter(cfg.RequestLimit, cfg.RequestBurst)
	limited := func(next http.Handler) http.Handler {
		return rateLimit(log, requests, address, "requests from this address", next)
	}
	failures := failureBudget{newLimiter(cfg.FailureLimit, cfg.FailureBurst), address}
	authenticated := func(next http.Handler) http.Handler {
		return authenticate(log, cfg.APIKeys, cfg.Shoppers, failures, next)
	}
	purchases := newLimiter(cfg.RateLimit, cfg.RateBurst)
	buyer := func(r *http.Request) string {
		if id := identityOf(r); id != "" {
			return id
		}
		return address(r)
	}
	return []route{
		{"POST /buy", limited(authenticated(rateLimit(log, purchases, buyer, "purchases from this client",
			handleBuy(log, snd, keys, cfg.source(), cfg.SendTimeout))))},
		{"GET /getAllUserBuys/{username}", limited(authenticated(handleGetAllUserBuys(log, api)))},
		{"GET /healthz", server.HandleHealthz()},
		{"GET /readyz", server.HandleReadyz(ready)},
		{"GET /openapi.yaml", limited(server.HandleFile("application/yaml", openAPI))},
		{"GET /{$}", limited(handleUI())},
		{"GET /assets/{name}", limited(handleUIAsset(log))},
	}
}

// newServer wires every route into one handler.
func newServer(log *slog.Logger, cfg config, snd sender, api *apiClient, ready *server.Readiness, m *telemetry.Metrics) http.Handler {
	mux := http.NewServeMux()
	snd = newObservedSender(snd, cfg.Topic, cfg.transport(),
		m.Counter("shop_events_sent_total", "Purchase events by outcome: acked by Kafka or the sink, or failed.", "result"))
	for _, rt := range routes(log, cfg, snd, api, ready, m) {
		mux.Handle(rt.pattern, rt.handler)
	}
	return server.Handler(log, m, mux)
}
