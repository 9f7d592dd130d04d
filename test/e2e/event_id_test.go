package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestCloudEventIDsAreScopedBySource posts CloudEvents with the same id from
// two sources, and one of them twice: two purchases are stored, each with
// the client's id and source, and none is a conflict for cm-api.
// TestKeyReuseAcrossReplicas covers the same event resent with other content.
func TestCloudEventIDsAreScopedBySource(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	body := `{"username":"scoped","userid":"sc-1","price":"2.50","timestamp":"2024-05-31T15:54:32.204Z"}`
	a := buyOK(t, shop, body, with(ceBinary("order-1", eventType), "Ce-Source", "/client-a"))
	b := buyOK(t, shop, body, with(ceBinary("order-1", eventType), "Ce-Source", "/client-b"))
	if again := buyOK(t, shop, body, with(ceBinary("order-1", eventType), "Ce-Source", "/client-a")); again != a {
		t.Errorf("the same event again: got id %s, want %s", again, a)
	}
	if a == b {
		t.Fatalf("two sources, one event id: got one purchase id %s, want two", a)
	}
	waitForPurchases(t, shop, "scoped", a, b)

	for id, source := range map[string]string{a: "/client-a", b: "/client-b"} {
		if doc := storedDocument(t, shop, id); doc["ce_id"] != "order-1" || doc["ce_source"] != source {
			t.Errorf("stored %s: got ce_id %v ce_source %v, want order-1 and %s", id, doc["ce_id"], doc["ce_source"], source)
		}
	}
	// The resend was sent again (a duplicate for cm-api) unless the first
	// was stored by then (answered from its claim, not sent): wait until
	// cm-api handled every event sent.
	sent := metricValue(t, shop.ServerMetrics, `shop_events_sent_total{function="cm-server",result="acked"}`)
	harness.Eventually(t, 10*time.Second, func() string {
		api := func(result string) float64 {
			return metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="`+result+`"}`)
		}
		if stored, dup := api("stored"), api("duplicate"); stored != 2 || stored+dup != sent {
			return fmt.Sprintf("cm-api counted %v stored and %v duplicates of %v sent, want 2 stored and the rest duplicates", stored, dup, sent)
		}
		return ""
	})
	for _, result := range []string{"dead_lettered", "rejected"} {
		if n := metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="`+result+`"}`); n != 0 {
			t.Errorf("cm-api %s %v events, want 0", result, n)
		}
	}
}

// storedDocument reads the stored document of purchase id straight from
// the store.
func storedDocument(t *testing.T, shop *harness.Shop, id string) bson.M {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var doc bson.M
	if err := shop.Purchases(t).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		t.Fatalf("find purchase %s: %v", id, err)
	}
	return doc
}
