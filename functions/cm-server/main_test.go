package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// TestRunSmoke starts cm-server through run, as main does, with K_SINK
// pointing at a sink that answers like a KafkaSink, waits for /readyz, buys
// once, finds the purchase counted on the metrics port (and no metrics on
// the public one) and shuts down cleanly.
func TestRunSmoke(t *testing.T) {
	var received atomic.Int32
	var answer atomic.Int32
	answer.Store(http.StatusAccepted)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil || e.Type() != purchase.EventType {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		received.Add(1)
		w.WriteHeader(int(answer.Load()))
	}))
	defer sink.Close()

	srv := apitest.StartRun(t, run, map[string]string{"K_SINK": sink.URL}, io.Discard)
	base := srv.Base
	apitest.WaitReady(t, base+"/readyz", 10*time.Second)
	buy := func() int {
		resp, err := http.Post(base+"/buy", "application/json", strings.NewReader(`{"username":"joe","userid":"005","price":"1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := buy(); got != http.StatusAccepted || received.Load() != 1 {
		t.Errorf("buy with a healthy sink: got %d and %d events at the sink, want 202 and 1", got, received.Load())
	}
	answer.Store(http.StatusServiceUnavailable) // what a KafkaSink says when Kafka did not ack
	if got := buy(); got != http.StatusServiceUnavailable {
		t.Errorf("buy with a failing sink: got %d, want 503", got)
	}
	if code, body := apitest.Get(t, srv.Metrics+"/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `shop_events_sent_total{function="cm-server",result="acked"} 1`) {
		t.Errorf("metrics port /metrics: got %d %.200q, want 200 counting the acked purchase", code, body)
	}
	if code, body := apitest.Get(t, srv.Metrics+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"transport":"http"`) {
		t.Errorf("metrics port /readyz: got %d %s, want 200 with info.transport http", code, body)
	}
	if code, body := apitest.Get(t, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "shop_") {
		t.Errorf("public /metrics: got %d %.200q, want 404", code, body)
	}
	if err := srv.Stop(t); err != nil {
		t.Errorf("run: got %v, want a clean stop", err)
	}
}
