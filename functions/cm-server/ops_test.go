package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// newMeteredServer is newTestServer with its metrics, which the public
// port does not serve.
func newMeteredServer(t testing.TB, snd sender, apiURL string) (http.Handler, *telemetry.Metrics) {
	t.Helper()
	cfg, err := loadConfig(apitest.Lookup(map[string]string{"CM_API_URL": apiURL}))
	if err != nil {
		t.Fatal(err)
	}
	log, m := slog.New(slog.DiscardHandler), telemetry.NewMetrics("cm-server")
	return newServer(log, cfg, snd, newAPIClient(apiURL, time.Second), server.NewReadiness(log), m), m
}

// brokenSender is a sender whose broker is unreachable; its error names the
// broker's address.
type brokenSender struct{ fakeSender }

func (*brokenSender) Ping(context.Context) error {
	return errors.New("kafka: client has run out of available brokers to talk to: dial tcp 10.9.8.7:9092: connection refused")
}

// TestPublicPort_showsNothingOperational: cm-server's API, which the
// Knative route exposes, has no /metrics, and its /readyz says "not ready"
// without naming the dependency or its error.
func TestPublicPort_showsNothingOperational(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	log, snd := slog.New(slog.DiscardHandler), &brokenSender{}
	ready := server.NewReadiness(log, server.Check{Name: "events", Ping: snd.Ping})
	ready.Info = map[string]string{"transport": "kafka"}
	h := newServer(log, cfg, snd, newAPIClient("http://127.0.0.1:1", time.Second), ready, telemetry.NewMetrics("cm-server"))
	if rec := apitest.Do(h, "GET", "/metrics", "", nil); rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "shop_") {
		t.Errorf("GET /metrics: got %d %q, want 404 and no metric", rec.Code, rec.Body.String())
	}
	rec := apitest.Do(h, "GET", "/readyz", "", nil)
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusServiceUnavailable || got != `{"status":"not ready"}` {
		t.Errorf("GET /readyz: got %d %s, want 503 {\"status\":\"not ready\"} only", rec.Code, got)
	}
}
