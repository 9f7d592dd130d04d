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

// route is one entry of the API; routes lists them all in one place, and a
// test checks the list against openapi.yaml.
type route struct {
	pattern string
	handler http.Handler
}

func routes(log *slog.Logger, cfg config, snd sender, api *apiClient, ready *server.Readiness, m *telemetry.Metrics) []route {
	keys := countingLookup{api, m.Counter("shop_key_lookups_total",
		"Idempotency-Key look-ups in cm-api before a keyed purchase: found, not_found or failed (the purchase is then sent unchecked).", "result")}
	return []route{
		{"POST /buy", authenticate(log, cfg.APIKeys, cfg.Shoppers, rateLimit(log, cfg.limiter(), handleBuy(log, snd, keys, cfg.source(), cfg.SendTimeout)))},
		{"GET /getAllUserBuys/{username}", authenticate(log, cfg.APIKeys, cfg.Shoppers, handleGetAllUserBuys(log, api))},
		{"GET /healthz", server.HandleHealthz()},
		{"GET /readyz", server.HandleReadyz(ready)},
		{"GET /openapi.yaml", server.HandleFile("application/yaml", openAPI)},
		{"GET /{$}", handleUI()},
		{"GET /assets/{name}", handleUIAsset(log)},
	}
}

// newServer wires every route into one handler.
func newServer(log *slog.Logger, cfg config, snd sender, api *apiClient, ready *server.Readiness, m *telemetry.Metrics) http.Handler {
	mux := http.NewServeMux()
	snd = newCountingSender(snd, m.Counter("shop_events_sent_total", "Purchase events by outcome: acked by Kafka or the sink, or failed.", "result"))
	snd = tracingSender{snd, cfg.Topic, cfg.transport()}
	for _, rt := range routes(log, cfg, snd, api, ready, m) {
		mux.Handle(rt.pattern, rt.handler)
	}
	return server.Handler(log, m, mux)
}
