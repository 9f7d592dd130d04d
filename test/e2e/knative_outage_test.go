package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// oldDelivery is the delivery the shop shipped before it rode out store
// outages: retry 5, exponential, PT0.5S, so a retryable failure was
// dead-lettered after 31 s of waiting.
var oldDelivery = harness.Delivery{Retry: 5, Delay: 500 * time.Millisecond}

// TestKnativeStoreOutageDeadLettersNothing stops the store, in Knative mode
// under a steady stream of buys, for 3 minutes (scaled): far longer than the
// old delivery's budget. The KafkaSource stand-in (the shipped delivery
// settings, the upstream dispatcher's rules) must dead-letter nothing and
// lose nothing, and every acknowledged purchase must be stored exactly once
// after the store is back.
func TestKnativeStoreOutageDeadLettersNothing(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	outage := 3 * time.Minute
	if old := oldDelivery.Budget(); outage <= 2*old {
		t.Fatalf("outage %v: want it well past the old budget %v, or the test proves nothing", outage, old)
	}
	delivery := harness.ShippedDelivery(t)
	if delivery.Budget() < time.Hour {
		t.Fatalf("eventing/kafkasource.yaml: retry budget %v, want at least 1h", delivery.Budget())
	}
	// cm-api's store timeout is scaled with the schedule, so it answers 503
	// within one scaled attempt, as it does (5 s < 10 s) in the cluster.
	storeOutageDeadLettersNothing(t, brokers, storeOutage{length: scaled(outage), scale: knativeScale,
		every: 50 * time.Millisecond, storedWithin: visibleWithin,
		apiEnv: map[string]string{"MONGODB_TIMEOUT": scaled(5 * time.Second).String()}})
}

// storeOutage is one run of storeOutageDeadLettersNothing: the outage's
// real length, the delivery's schedule scale, the stream's interval between
// buys, how long the stored purchases may take to show after it, and
// cm-api's extra environment.
type storeOutage struct {
	length, every, storedWithin time.Duration
	scale                       float64
	apiEnv                      map[string]string
}

// storeOutageDeadLettersNothing stops the store for o.length under a steady
// stream of buys in Knative mode, on the stand-ins or the real data plane
// (the harness's switch): the KafkaSource must dead-letter nothing and lose
// nothing, and every acknowledged purchase must be stored exactly once
// after the store is back.
func storeOutageDeadLettersNothing(t *testing.T, brokers []string, o storeOutage) {
	t.Helper()
	mongo, dir := harness.OwnMongo(t)
	shop := harness.NewShop(t, brokers, mongo.URI())
	sink := harness.StartKafkaSink(t, brokers, shop.Topic)
	shop.StartAPI(false, o.apiEnv)
	source := shop.StartKafkaSource(o.scale)
	shop.StartServer(sink, nil)

	stream := harness.StartStream(t, shop, "steady", 2, o.every)
	stream.WaitAcked(t, 10, visibleWithin)
	mongo.Close()
	// A purchase posted straight to cm-api meanwhile is a retryable 503 with Retry-After.
	a := send("POST", shop.APIURL+"/", strings.Replace(joe, "joe", "probe", 1), ceBinary("probe-1", eventType), 10*time.Second)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Errorf("cm-api POST / while the store is down: got %d %q (Retry-After %q), want 503 with Retry-After",
			a.status, a.body, a.header.Get("Retry-After"))
	}
	// Keyed purchases wait for the store (their keys cannot be claimed:
	// 503, retried by the stream); purchases without a key are acknowledged
	// by Kafka and wait there, retried by the KafkaSource.
	unkeyed := map[string]string{}
	for i := range 5 {
		price := fmt.Sprintf("0.0%d", i+1)
		unkeyed[buyOK(t, shop, `{"username":"steady","userid":"s-out","price":"`+price+`"}`, nil)] = price
	}
	time.Sleep(o.length)
	restarted, err := stack.StartMongo(context.Background(), mongo.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
	t.Cleanup(restarted.Close)
	stream.Stop()
	stream.Check(t)
	acked := stream.Acked()
	maps.Copy(acked, unkeyed)
	harness.WaitStoredOnce(t, shop, "steady", acked, o.storedWithin)
	waitAllDispatched(t, shop)
	t.Logf("%v store outage: %d purchases acknowledged, %d delivered, %d failed attempts retried", o.length, len(acked),
		source.Delivered.Load(), source.Retried.Load())

	if n := source.Retried.Load(); n == 0 {
		t.Error("KafkaSource retries during the outage: got 0, want some (the outage was not felt)")
	}
	if dl := source.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters after a %v store outage: got %d %v, want none", o.length, len(dl), dl)
	}
	if n := source.Lost.Load(); n != 0 {
		t.Errorf("events lost by the KafkaSource: got %d, want 0", n)
	}
	if n := topicRecords(t, brokers, shop.DLQTopic); n != 0 {
		t.Errorf("records in %s: got %d, want 0", shop.DLQTopic, n)
	}
}

// scaled is d on the tests' faster schedule.
func scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * knativeScale) }
