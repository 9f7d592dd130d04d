package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestKnativeRebalanceDeliversTheInFlightEventTwice: while the store is
// down, a second dispatcher joins the group. The first one's retry loop for
// the event in flight goes on after the rebalance while the partition's new
// owner delivers the same event from the committed offset (on the real data
// plane one event was delivered by both, 17 attempts). When the store is
// back both loops deliver it: cm-api stores it once and answers the other
// as a duplicate.
func TestKnativeRebalanceDeliversTheInFlightEventTwice(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	mongo, dir := harness.OwnMongo(t)
	shop := harness.NewShop(t, brokers, mongo.URI())
	shop.StartAPI(false, map[string]string{"MONGODB_TIMEOUT": "1s"})
	first := shop.StartKafkaSource(knativeScale)
	shop.StartServer("", nil)
	acked := map[string]string{buyOK(t, shop, `{"username":"rebalance","userid":"r-1","price":"0.01"}`, nil): "0.01"}
	harness.WaitStoredOnce(t, shop, "rebalance", acked, visibleWithin)

	mongo.Close()
	acked[buyOK(t, shop, `{"username":"rebalance","userid":"r-1","price":"5.00"}`, nil)] = "5.00"
	harness.Eventually(t, visibleWithin, func() string {
		if n := first.Retried.Load(); n < 2 {
			return fmt.Sprintf("first dispatcher: %d retries, want it retrying the purchase", n)
		}
		return ""
	})
	second := shop.StartKafkaSource(knativeScale) // joins the group: a rebalance
	harness.Eventually(t, visibleWithin, func() string {
		if a, b := first.Sessions.Load(), second.Sessions.Load(); a < 2 || b < 1 {
			return fmt.Sprintf("sessions: first %d, second %d; want the rebalance done (2, 1)", a, b)
		}
		return ""
	})
	// The partition's new owner starts its own loop at once; let both retry.
	time.Sleep(time.Second)

	restarted, err := stack.StartMongo(context.Background(), mongo.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
	t.Cleanup(restarted.Close)
	harness.WaitStoredOnce(t, shop, "rebalance", acked, storedWithin)
	harness.Eventually(t, visibleWithin, func() string {
		delivered := first.Delivered.Load() + second.Delivered.Load()
		dup := metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="duplicate"}`)
		if delivered < 3 || dup < 1 {
			return fmt.Sprintf("%d deliveries, cm-api counted %v duplicates; want the purchase delivered by both loops (3 in all) and one duplicate", delivered, dup)
		}
		return ""
	})
	if dead := len(first.DeadLetters()) + len(second.DeadLetters()); dead != 0 {
		t.Errorf("dead letters: got %d, want 0", dead)
	}
	harness.WaitStoredOnce(t, shop, "rebalance", acked, visibleWithin)
	t.Logf("first dispatcher: %d deliveries, %d failed attempts retried; second: %d deliveries, %d retried; cm-api: %v duplicates",
		first.Delivered.Load(), first.Retried.Load(), second.Delivered.Load(), second.Retried.Load(),
		metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="duplicate"}`))
}
