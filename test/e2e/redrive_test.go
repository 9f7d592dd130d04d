package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestShopctlRedriveStoresEachOnceAfterTheFix, in both modes with the real
// cm-api, broker and store: the store refuses a purchase for good (a unique
// index on userid) and a poison record (wrong type) is refused, so both are
// dead-lettered. The cause is fixed (the index dropped). A dry run sends
// nothing; the redrive sends the refused purchase and skips the poison; a
// second redrive sends nothing; each purchase is stored exactly once.
func TestShopctlRedriveStoresEachOnceAfterTheFix(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"kafka", "knative"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			brokers := harness.Integration(t)
			shop := harness.NewShop(t, brokers, harness.MongoURI(t))
			refuseSecondPurchaseOfAUser(t, shop)
			shop.StartAPI(mode == "kafka", nil)
			if mode == "knative" {
				shop.StartKafkaSource(1)
			}
			shop.StartServer("", nil)
			producePoisonAndRefused(t, brokers, shop.Topic)
			forEachRecord(t, brokers, shop.DLQTopic, 2, func(*sarama.ConsumerMessage) {})
			dropUseridIndex(t, shop)

			env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": shop.Topic,
				"KAFKA_DLQ_TOPIC": shop.DLQTopic}
			before := recordCount(t, brokers, shop.Topic)
			if out, errOut, code := shopctl(t, env, "dlq", "redrive", "--dry-run"); code != 0 ||
				!strings.Contains(out, "would send 1, would skip 1") {
				t.Fatalf("dry run: got exit %d %q %q, want 0 and would send 1, would skip 1", code, out, errOut)
			}
			if after := recordCount(t, brokers, shop.Topic); after != before {
				t.Errorf("dry run: got %d records on the topic, want %d as before", after, before)
			}
			for _, want := range []string{"sent 1, skipped 1", "sent 0, skipped 0"} {
				out, errOut, code := shopctl(t, env, "dlq", "redrive")
				if code != 0 || !strings.Contains(out, want) {
					t.Fatalf("redrive: got exit %d %q %q, want 0 and %q", code, out, errOut, want)
				}
			}
			waitForPurchases(t, shop, "refused", "ref-1", "ref-2", "ref-3")
		})
	}
}

// TestShopctlRedriveAfterABeyondBudgetOutage, in Knative mode with the real
// cm-api, broker and store: the store is down while purchases are bought, and
// the KafkaSource stand-in, given a small explicit retry budget (retry 2, the
// shipped policy, shorter delays), runs it out on cm-api's 503 and
// dead-letters every purchase with knativeerrorcode 503. The cause is fixed
// (the store restarted); the redrive sends each purchase once, a second
// redrive sends nothing, and each purchase is stored exactly once.
func TestShopctlRedriveAfterABeyondBudgetOutage(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	mongo, dir := harness.OwnMongo(t)
	shop := harness.NewShop(t, brokers, mongo.URI())
	sink := harness.StartKafkaSink(t, brokers, shop.Topic)
	shop.StartAPI(false, map[string]string{"MONGODB_TIMEOUT": scaled(5 * time.Second).String()})
	source := shop.StartKafkaSourceBudget(knativeScale, 2, scaled(500*time.Millisecond))
	shop.StartServer(sink, nil)

	mongo.Close()
	// Without an idempotency key a purchase is acknowledged once Kafka has
	// it, whatever the store's state.
	acked := map[string]string{}
	for i := range 3 {
		price := fmt.Sprintf("0.0%d", i+1)
		acked[buyOK(t, shop, `{"username":"outage","userid":"o-1","price":"`+price+`"}`, nil)] = price
	}
	var dead []string
	for _, e := range readCloudEvents(t, brokers, shop.DLQTopic, len(acked)) {
		dead = append(dead, e["ce_id"])
		if e["ce_knativeerrorcode"] != "503" {
			t.Errorf("dead letter %s: got knativeerrorcode %q, want 503 (the store down)", e["ce_id"], e["ce_knativeerrorcode"])
		}
	}
	if want := slices.Sorted(maps.Keys(acked)); !slices.Equal(slices.Sorted(slices.Values(dead)), want) {
		t.Fatalf("dead letters: got ids %v, want every purchase %v", dead, want)
	}
	if n := source.Retried.Load(); n < int64(2*len(acked)) {
		t.Errorf("KafkaSource retries: got %d, want at least %d (the budget used up for each purchase)", n, 2*len(acked))
	}

	restarted, err := stack.StartMongo(context.Background(), mongo.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
	t.Cleanup(restarted.Close)
	// The fix is seen through the shop: cm-api reads the store again, and
	// nothing was stored while it was down.
	harness.Eventually(t, visibleWithin, func() string {
		if ps, err := shop.AllUserBuys("outage", 100); err != nil || len(ps) != 0 {
			return fmt.Sprintf("outage's purchases after the restart: got %d, %v; want 0, no error", len(ps), err)
		}
		return ""
	})
	env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": shop.Topic,
		"KAFKA_DLQ_TOPIC": shop.DLQTopic}
	for _, want := range []string{fmt.Sprintf("sent %d, skipped 0", len(acked)), "sent 0, skipped 0"} {
		out, errOut, code := shopctl(t, env, "dlq", "redrive")
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("redrive: got exit %d %q %q, want 0 and %q", code, out, errOut, want)
		}
	}
	harness.WaitStoredOnce(t, shop, "outage", acked, visibleWithin)
	waitAllDispatched(t, shop)
	if n := source.Lost.Load(); n != 0 {
		t.Errorf("events lost by the KafkaSource: got %d, want 0", n)
	}
}

// producePoisonAndRefused writes, on one partition, two purchases of the same
// userid (the store refuses the second one written), one of another userid
// and a record of a foreign event type.
func producePoisonAndRefused(t *testing.T, brokers []string, topic string) {
	t.Helper()
	producer := harness.SyncProducer(t, brokers)
	key := sarama.StringEncoder("refused")
	body := func(userid string) sarama.Encoder {
		return sarama.StringEncoder(`{"username":"refused","userid":"` + userid + `","price":"5","timestamp":"2024-05-31T15:54:32.204Z"}`)
	}
	if err := producer.SendMessages([]*sarama.ProducerMessage{
		{Topic: topic, Key: key, Headers: ceHeaders("ref-1", eventType), Value: body("same")},
		{Topic: topic, Key: key, Headers: ceHeaders("ref-2", eventType), Value: body("same")},
		{Topic: topic, Key: key, Headers: ceHeaders("ref-3", eventType), Value: body("other")},
		{Topic: topic, Key: key, Headers: ceHeaders("poison-1", "com.example.not.a.purchase"), Value: body("poison")},
	}); err != nil {
		t.Fatal(err)
	}
}

// dropUseridIndex fixes what refuseSecondPurchaseOfAUser broke.
func dropUseridIndex(t *testing.T, shop *harness.Shop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shop.Purchases(t).Indexes().DropOne(ctx, "userid_1"); err != nil {
		t.Fatal(err)
	}
}

// recordCount is how many records topic holds (the sum of its partitions'
// high-water marks: nothing is deleted in a test).
func recordCount(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	client, err := sarama.NewClient(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		n += end
	}
	return n
}
