package harness

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Purchases is the shop's purchases collection, straight from MongoDB, on
// a client closed when the test ends: for tests that read or change the
// store behind the shop's back.
func (s *Shop) Purchases(t testing.TB) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(s.MongoURI).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatalf("connect to MongoDB: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(s.Database).Collection("purchases")
}

// StoredCount counts the documents in the shop's purchases collection,
// straight from MongoDB, whoever they belong to.
func (s *Shop) StoredCount(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	n, err := s.Purchases(t).CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatalf("count stored purchases: %v", err)
	}
	return n
}

// TopicRecords counts the records ever written to the shop's topic: the sum
// of its partitions' high-water marks.
func (s *Shop) TopicRecords(t testing.TB) int64 {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(s.Brokers, cfg)
	if err != nil {
		t.Fatalf("connect to Kafka: %v", err)
	}
	defer client.Close()
	partitions, err := client.Partitions(s.Topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", s.Topic, err)
	}
	var sum int64
	for _, p := range partitions {
		n, err := client.GetOffset(s.Topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("newest offset of %s/%d: %v", s.Topic, p, err)
		}
		sum += n
	}
	return sum
}
