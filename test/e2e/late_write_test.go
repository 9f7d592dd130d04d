package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestBuy503MayBeStoredAndItsRetryIsOnePurchase: a purchase sent without
// an Idempotency-Key while Kafka is down is answered 503 after cm-server's
// send timeout, with the key to retry it with. In Knative mode the
// KafkaSink's producer goes on retrying (delivery.timeout.ms 120 s, as the
// real receiver does) and writes the purchase once the broker is back, so
// the 503 is stored; in Kafka mode cm-server's own producer gives up, and
// the test logs whether it was stored. Either way the client that follows
// the 503's advice ends with the purchase stored exactly once, under the
// id of the first attempt.
func TestBuy503MayBeStoredAndItsRetryIsOnePurchase(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fault test: runs its own Kafka broker; skipped with -short")
	}
	broker := harness.StartBroker(t)
	for _, mode := range []string{"knative", "kafka"} {
		t.Run(mode, func(t *testing.T) {
			shop := harness.NewShop(t, broker.Brokers, harness.MongoURI(t))
			user := "late-" + mode
			if mode == "knative" {
				sink := harness.StartKafkaSink(t, broker.Brokers, shop.Topic)
				shop.StartAPI(false, nil)
				shop.StartKafkaSource(1)
				shop.StartServer(sink, map[string]string{"SEND_TIMEOUT": "3s"})
			} else {
				shop.StartAPI(true, nil)
				shop.StartServer("", map[string]string{"SEND_TIMEOUT": "3s"})
			}
			acked := map[string]string{buyOK(t, shop, fmt.Sprintf(`{"username":%q,"userid":"l-1","price":"0.01"}`, user), nil): "0.01"}
			waitForPurchases(t, shop, user, keys(acked)...)

			broker.Stop()
			body := fmt.Sprintf(`{"username":%q,"userid":"l-1","price":"7.00"}`, user)
			start := time.Now()
			a := send("POST", shop.ServerURL+"/buy", body, map[string]string{"Content-Type": "application/json"}, 30*time.Second)
			took := time.Since(start)
			var advice struct {
				Message        string `json:"message"`
				IdempotencyKey string `json:"idempotency_key"`
			}
			_ = json.Unmarshal(a.body, &advice)
			key := a.header.Get("Idempotency-Key")
			if a.err != nil || a.status != http.StatusServiceUnavailable || key == "" || advice.IdempotencyKey != key {
				t.Fatalf("buy while Kafka is down: got %d %s %v (Idempotency-Key %q), want 503 naming the key to retry with",
					a.status, a.body, a.err, key)
			}
			broker.Start()
			restarted := time.Now()

			// A marker bought after the restart. In Knative mode the
			// purchase is written late and may come after the marker (the
			// sink's producer may reorder), so the test waits for both;
			// in Kafka mode, for the marker.
			marker := retryUntilAcked(t, shop, fmt.Sprintf(`{"username":%q,"userid":"l-1","price":"0.02"}`, user), "marker-"+mode)
			acked[marker] = "0.02"
			lateID := ""
			harness.Eventually(t, storedWithin, func() string {
				ps, err := shop.AllUserBuys(user, 100)
				if err != nil {
					return err.Error()
				}
				found := 0
				for _, p := range ps {
					if _, ok := acked[p.ID]; ok {
						found++
					}
					if p.Price == "7.00" {
						lateID = p.ID
					}
				}
				if found != len(acked) {
					return fmt.Sprintf("%s: %d of the %d acknowledged purchases stored", user, found, len(acked))
				}
				if mode == "knative" && lateID == "" {
					return "Knative mode: the 503's purchase is not stored; the KafkaSink's producer retries it for 120 s"
				}
				return ""
			})
			t.Logf("%s mode: 503 after %v; stored anyway before the client retried: %v (%s after the broker was back)",
				mode, took.Round(100*time.Millisecond), lateID != "", time.Since(restarted).Round(100*time.Millisecond))

			id := retryUntilAcked(t, shop, body, key)
			if lateID != "" && id != lateID {
				t.Errorf("retry with the 503's key: got id %s, want the stored %s", id, lateID)
			}
			acked[id] = "7.00"
			harness.WaitStoredOnce(t, shop, user, acked, storedWithin)
		})
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
