package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestStoreRefusalGoesToDeadLetters (Kafka mode, real cm-api, broker and
// store): the store refuses a purchase for good (a unique index on userid,
// standing for any rule the store enforces, and a second purchase of the
// same userid). cm-api dead-letters that record with the store's reason and
// the partition moves on: the purchase after both, on the same partition,
// is stored. Before store errors were classified it was retried for ever and
// the partition stalled behind it.
func TestStoreRefusalGoesToDeadLetters(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	refuseSecondPurchaseOfAUser(t, shop)
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)

	producer := harness.SyncProducer(t, brokers)
	key := sarama.StringEncoder("refused") // one partition: ref-3 comes after ref-2
	body := func(userid string) sarama.Encoder {
		return sarama.StringEncoder(`{"username":"refused","userid":"` + userid + `","price":"5","timestamp":"2024-05-31T15:54:32.204Z"}`)
	}
	if err := producer.SendMessages([]*sarama.ProducerMessage{
		{Topic: shop.Topic, Key: key, Headers: ceHeaders("ref-1", eventType), Value: body("same")},
		{Topic: shop.Topic, Key: key, Headers: ceHeaders("ref-2", eventType), Value: body("same")},
		{Topic: shop.Topic, Key: key, Headers: ceHeaders("ref-3", eventType), Value: body("other")},
	}); err != nil {
		t.Fatal(err)
	}

	// The records of a partition are written concurrently, so either of
	// ref-1 and ref-2 may be the one stored; the other is refused.
	reasons := readDeadLetters(t, brokers, shop.DLQTopic, 1)
	refused, stored := "ref-2", "ref-1"
	if strings.Contains(reasons[0], "ref-1") {
		refused, stored = stored, refused
	}
	if !strings.Contains(reasons[0], "store purchase "+refused) || !strings.Contains(reasons[0], "DuplicateKey (11000)") {
		t.Errorf("dead letter: got reason %q, want ref-1's or ref-2's with the store's DuplicateKey (11000)", reasons[0])
	}
	waitForPurchases(t, shop, "refused", stored, "ref-3")
}

// refuseSecondPurchaseOfAUser makes the shop's store refuse a purchase
// whose userid is taken, with a unique index the shop does not make.
func refuseSecondPurchaseOfAUser(t *testing.T, shop *harness.Shop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	index := mongo.IndexModel{Keys: bson.D{{Key: "userid", Value: 1}}, Options: options.Index().SetUnique(true)}
	if _, err := shop.Purchases(t).Indexes().CreateOne(ctx, index); err != nil {
		t.Fatal(err)
	}
}
