package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// TestStoreGate_turnsEventsAwayWhileTheStoreIsDown: a write that fails for a
// transient reason closes the gate; then POST / answers 503 with
// Retry-After without writing, even once a write would succeed, for as long
// as the store's ping fails; when the ping answers again the gate opens by
// itself (no probe runs here) and the event is stored once.
func TestStoreGate_turnsEventsAwayWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st := newMemStore()
	st.err = errors.New("server selection error: connection refused")
	var pingOK atomic.Bool
	gate := newStoreGate(t.Context(), log, func(context.Context) error {
		if pingOK.Load() {
			return nil
		}
		return errors.New("ping MongoDB: connection refused")
	})
	h := newServer(log, cfg, st, testBatcher(t, st), gate, server.NewReadiness(log), testMetrics())
	post := func() int { return apitest.Do(h, "POST", "/", data, binary("gate-1", purchase.EventType)).Code }

	if got := post(); got != http.StatusServiceUnavailable {
		t.Fatalf("POST / with the store failing: got %d, want 503", got)
	}
	st.mu.Lock()
	st.err = nil // a write would now succeed; only the gate can refuse it
	st.mu.Unlock()
	for i := range 3 {
		rec := apitest.Do(h, "POST", "/", data, binary("gate-1", purchase.EventType))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("POST / %d while the ping fails: got %d (Retry-After %q), want 503 with Retry-After",
				i+1, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if n := st.count(); n != 0 {
		t.Fatalf("stored while the gate was closed: got %d, want 0", n)
	}

	pingOK.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for post() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("POST / after the store came back: still refused after 10s, want 200 once a ping answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.count(); n != 1 {
		t.Errorf("stored: got %d, want 1", n)
	}
}

// TestStoreGate_pingDecides: a failed ping closes the gate and a good one
// opens it; a nil gate (no store to watch) is never closed.
func TestStoreGate_pingDecides(t *testing.T) {
	t.Parallel()
	pingErr := errors.New("down")
	var fail atomic.Bool
	g := newStoreGate(t.Context(), slog.New(slog.DiscardHandler), func(context.Context) error {
		if fail.Load() {
			return pingErr
		}
		return nil
	})
	if g.Closed() {
		t.Fatal("new gate: got closed, want open until the store is seen down")
	}
	fail.Store(true)
	if err := g.Ping(t.Context()); !errors.Is(err, pingErr) || !g.Closed() {
		t.Fatalf("after a failed ping: got err %v, closed %v; want the ping's error and closed", err, g.Closed())
	}
	fail.Store(false)
	if err := g.Ping(t.Context()); err != nil || g.Closed() {
		t.Fatalf("after a good ping: got err %v, closed %v; want nil and open", err, g.Closed())
	}
	var none *storeGate
	none.Failed()
	if none.Closed() {
		t.Error("nil gate: got closed, want open")
	}
}
