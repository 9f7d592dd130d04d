package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestKeyReuseAcrossReplicas posts, at the same time, two different
// purchases with one key to two cm-server processes, round after round:
// once with an Idempotency-Key, once as a CloudEvent with one source and
// id. Each round gets exactly one 202 and one 422, and exactly the
// acknowledged purchase is stored: the claim of the key in the store is
// one atomic step, whichever replica gets there first.
func TestKeyReuseAcrossReplicas(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	a, aMetrics := shop.ServerURL, shop.ServerMetrics
	shop.StartServer("", nil)
	b, bMetrics := shop.ServerURL, shop.ServerMetrics

	const rounds = 8
	var acked []string
	for i := range rounds {
		for _, kind := range []string{"key", "event"} {
			header := with(jsonType, "Idempotency-Key", fmt.Sprintf("replicas-%d", i))
			if kind == "event" {
				header = with(ceBinary(fmt.Sprintf("replicas-%d", i), eventType), "Ce-Source", "/client/replicas")
			}
			var answers [2]answer
			var wg sync.WaitGroup
			for j, url := range []string{a, b} {
				body := fmt.Sprintf(`{"username":"replicas","userid":"rp-1","price":"%d.00"}`, j+1)
				wg.Go(func() { answers[j] = send("POST", url+"/buy", body, header, 10*time.Second) })
			}
			wg.Wait()
			won, refused := 0, 0
			for _, ans := range answers {
				switch {
				case ans.status == http.StatusAccepted:
					won++
					var r harness.BuyResponse
					if err := json.Unmarshal(ans.body, &r); err != nil || r.ID == "" {
						t.Fatalf("%s round %d: 202 %s without an id", kind, i, ans.body)
					}
					acked = append(acked, r.ID)
				case ans.status == http.StatusUnprocessableEntity:
					refused++
				}
			}
			if won != 1 || refused != 1 {
				t.Fatalf("%s round %d: got %d %s and %d %s, want one 202 and one 422",
					kind, i, answers[0].status, answers[0].body, answers[1].status, answers[1].body)
			}
		}
	}
	stored := waitForPurchases(t, shop, "replicas", acked...)
	// Every event either replica sent is handled before the store is
	// read for what it holds: nothing may be dead-lettered or added.
	sent := metricValue(t, aMetrics, `shop_events_sent_total{function="cm-server",result="acked"}`) +
		metricValue(t, bMetrics, `shop_events_sent_total{function="cm-server",result="acked"}`)
	harness.Eventually(t, visibleWithin, func() string {
		handled := 0.0
		for _, result := range []string{"stored", "duplicate", "dead_lettered", "rejected"} {
			handled += metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="`+result+`"}`)
		}
		if handled != sent {
			return fmt.Sprintf("cm-api handled %v of the %v events sent", handled, sent)
		}
		return ""
	})
	if sent != 2*rounds {
		t.Errorf("events sent: got %v, want %d (only the acknowledged purchases)", sent, 2*rounds)
	}
	for _, result := range []string{"dead_lettered", "rejected"} {
		if n := metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="`+result+`"}`); n != 0 {
			t.Errorf("cm-api %s %v events, want 0", result, n)
		}
	}
	if got := shop.StoredCount(t); got != 2*rounds || len(stored) != 2*rounds {
		t.Errorf("stored: got %d documents and %d listed, want %d, the acknowledged ones", got, len(stored), 2*rounds)
	}
}
