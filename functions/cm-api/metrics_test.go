package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// TestStoreUp_followsTheReadinessCheck: shop_store_up, which the
// ShopStoreUnreachable alert watches, is absent until the store's
// readiness check runs, then 0 while the ping fails and 1 once it answers.
func TestStoreUp_followsTheReadinessCheck(t *testing.T) {
	m := newShopMetrics(telemetry.NewMetrics("cm-api"))
	if n := testutil.CollectAndCount(m.storeUp); n != 0 {
		t.Fatalf("shop_store_up before any check: got %d series, want none", n)
	}
	pingErr := errors.New("connection refused")
	check := m.pingStore(func(context.Context) error { return pingErr })
	if err := check(t.Context()); !errors.Is(err, pingErr) {
		t.Fatalf("check: got %v, want the ping's error", err)
	}
	if got := testutil.ToFloat64(m.storeUp); got != 0 {
		t.Errorf("shop_store_up after a failed ping: got %v, want 0", got)
	}
	pingErr = nil
	// Through Readiness, as main wires it.
	rd := server.NewReadiness(slog.New(slog.NewTextHandler(io.Discard, nil)), server.Check{Name: "mongodb", Ping: check})
	if !rd.Ready(t.Context()) {
		t.Fatal("readiness with a store that answers: got not ready, want ready")
	}
	if got := testutil.ToFloat64(m.storeUp); got != 1 {
		t.Errorf("shop_store_up after a ping that answered: got %v, want 1", got)
	}
}

// TestEventResults_startAtZero: every shop_events_total result is exported
// from the start, at 0, so the first dead letter is an increase
// (ShopDeadLetters' increase() cannot see a series born at 1).
func TestEventResults_startAtZero(t *testing.T) {
	m := newShopMetrics(telemetry.NewMetrics("cm-api"))
	if n := testutil.CollectAndCount(m.events); n != len(eventResults) {
		t.Errorf("shop_events_total series: got %d, want %d (%v)", n, len(eventResults), eventResults)
	}
	for _, r := range eventResults {
		if got := testutil.ToFloat64(m.events.WithLabelValues(r)); got != 0 {
			t.Errorf("shop_events_total{result=%q}: got %v, want 0", r, got)
		}
	}
}
