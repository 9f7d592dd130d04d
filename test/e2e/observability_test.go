package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestTraceAndMetrics follows one purchase by its W3C trace from POST /buy
// through Kafka into the stored document, with no OTEL_* variable set (no
// exporter, a no-op tracer provider): the caller's trace passes through
// unchanged. It also reads both functions' metrics.
// TestTracing_onePurchaseIsOneTrace covers the spans with an exporter.
func TestTraceAndMetrics(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", shop.ServerURL+"/buy", strings.NewReader(`{"username":"traced","userid":"t","price":"1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tp := resp.Header.Get("traceparent"); !strings.Contains(tp, traceID) || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("buy: got %d traceparent %q, want 202 continuing trace %s", resp.StatusCode, tp, traceID)
	}
	var id string
	harness.Eventually(t, visibleWithin, func() string {
		ps, err := shop.AllUserBuys("traced", 10)
		if err != nil || len(ps) != 1 {
			return "waiting for the traced purchase"
		}
		id = ps[0].ID
		return ""
	})

	doc := storedDocument(t, shop, id)
	if tp, _ := doc["traceparent"].(string); !strings.Contains(tp, traceID) {
		t.Errorf("stored traceparent: got %q, want trace %s", tp, traceID)
	}

	for url, wants := range map[string][]string{
		shop.ServerMetrics + "/metrics": {`shop_events_sent_total{function="cm-server",result="acked"} 1`, `route="POST /buy"`},
		shop.APIMetrics + "/metrics":    {`shop_events_total{function="cm-api",result="stored"} 1`, "shop_store_batch_size_count", "shop_consumer_lag{"},
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range wants {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: want %q", url, want)
			}
		}
	}
}
