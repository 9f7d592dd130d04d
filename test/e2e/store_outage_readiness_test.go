package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// probeTimeout is how long Kubernetes waits for a readiness probe's answer
// when the probe sets no timeoutSeconds, as config/cm-api.yaml's does not:
// an answer after it is a failed probe.
const probeTimeout = time.Second

// TestStoreOutageKeepsCMAPIInService: in Knative mode, with the store down,
// the readiness Knative probes (the public /readyz) stays ready and answers
// within the probe's timeout, so Knative keeps cm-api in service and the
// KafkaSource's attempts reach it instead of waiting in the activator; the
// metrics port's /readyz reports the store;
// and POST / answers 503 with Retry-After before the source's attempt
// timeout (eventing/kafkasource.yaml), although cm-api's store timeout is
// longer than that attempt: only the store gate can answer in time. With
// the store back, the same event is stored, once.
func TestStoreOutageKeepsCMAPIInService(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	if testing.Short() {
		t.Skip("skipped with -short")
	}
	attempt := harness.ShippedDelivery(t).Timeout
	if attempt <= 0 {
		t.Fatal("eventing/kafkasource.yaml: no delivery timeout, want one")
	}
	mongo, dir := harness.OwnMongo(t)
	shop := harness.NewShop(t, brokers, mongo.URI())
	shop.StartAPI(false, map[string]string{"MONGODB_TIMEOUT": (3 * attempt).String()})
	deliver := func(id string) answer {
		return send("POST", shop.APIURL+"/", joe, ceBinary(id, eventType), attempt)
	}
	if a := deliver("before-1"); a.status != http.StatusOK {
		t.Fatalf("POST / with the store up: got %d %s %v, want 200", a.status, a.body, a.err)
	}

	mongo.Close()
	harness.Eventually(t, visibleWithin, func() string {
		a := send("GET", shop.APIMetrics+"/readyz", "", nil, attempt)
		var body struct{ Checks map[string]string }
		_ = json.Unmarshal(a.body, &body)
		if a.status != http.StatusServiceUnavailable || body.Checks["mongodb"] != "unavailable" {
			return fmt.Sprintf("metrics port /readyz during the outage: got %d %s, want 503 with mongodb unavailable", a.status, a.body)
		}
		return ""
	})
	for i := range 3 {
		a := deliver("outage-1")
		if a.err != nil {
			t.Fatalf("POST / %d during the outage: got %v, want an answer within the source's %v attempt", i+1, a.err, attempt)
		}
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Fatalf("POST / %d during the outage: got %d %s (Retry-After %q), want 503 with Retry-After",
				i+1, a.status, a.body, a.header.Get("Retry-After"))
		}
		if a := send("GET", shop.APIURL+"/readyz", "", nil, probeTimeout); a.status != http.StatusOK ||
			strings.TrimSpace(string(a.body)) != `{"status":"ready"}` {
			t.Fatalf("public /readyz during the outage: got %d %s %v, want 200 {\"status\":\"ready\"} within the probe's %v",
				a.status, a.body, a.err, probeTimeout)
		}
	}

	restarted, err := stack.StartMongo(context.Background(), mongo.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
	t.Cleanup(restarted.Close)
	// The source retries; the first attempt after the store answers again stores it.
	harness.Eventually(t, visibleWithin, func() string {
		if a := deliver("outage-1"); a.status != http.StatusOK {
			return fmt.Sprintf("POST / after the outage: got %d %s %v, want 200", a.status, a.body, a.err)
		}
		return ""
	})
	a := deliver("outage-1")
	var got struct{ Duplicate bool }
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != http.StatusOK || !got.Duplicate {
		t.Errorf("POST / once more: got %d %s, want 200 with duplicate true", a.status, a.body)
	}
	if n := shop.StoredCount(t); n != 2 {
		t.Errorf("stored: got %d purchases, want 2 (before-1 and outage-1, once each)", n)
	}
}
