package main

import (
	_ "embed"
	"log/slog"
	"net/http"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

//go:embed openapi.yaml
var openAPI []byte

// route is one entry of the API; routes lists them all in one place, and a
// test checks the list against openapi.yaml.
type route struct {
	pattern string
	handler http.Handler
}

func routes(log *slog.Logger, cfg config, st store, saves *batcher, gate *storeGate, ready *server.Readiness, m *shopMetrics) []route {
	return []route{
		{"POST /{$}", requireCaller(log, cfg.Senders, handleReceive(log, saves, gate, m, cfg.MongoTimeout))},
		{"GET /buyList/{username}", requireCaller(log, cfg.Readers, handleBuyList(log, st))},
		{"PUT /claims/{key}", requireCaller(log, cfg.Readers, handleClaim(log, st, time.Now))},
		{"GET /healthz", server.HandleHealthz()},
		{"GET /readyz", server.HandleReadyz(ready)},
		{"GET /openapi.yaml", server.HandleFile("application/yaml", openAPI)},
	}
}

// newServer wires every route into one handler. ready is the readiness
// Knative probes; gate (nil: none) turns POST / away while the store is down.
func newServer(log *slog.Logger, cfg config, st store, saves *batcher, gate *storeGate, ready *server.Readiness, m *shopMetrics) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes(log, cfg, st, saves, gate, ready, m) {
		mux.Handle(rt.pattern, rt.handler)
	}
	return server.Handler(log, m, mux)
}
