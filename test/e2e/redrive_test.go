package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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

// producePoisonAndRefused writes, on one partition, two purchases of the same
// userid (the store refuses the second one written), one of another userid
// and a record of a foreign event type.
func producePoisonAndRefused(t *testing.T, brokers []string, topic string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
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
	client, err := mongo.Connect(options.Client().ApplyURI(shop.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	if err := client.Database(shop.Database).Collection("purchases").Indexes().DropOne(ctx, "userid_1"); err != nil {
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
