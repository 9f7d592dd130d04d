package harness

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

var (
	mongoOnce sync.Once
	mongoURI  string
	mongoErr  error
	sharedDB  *stack.Mongo
	mongoDir  string
)

// MongoURI is MONGODB_URI, or one embedded FerretDB shared by the test
// process. Tests keep apart by database name (see Unique).
func MongoURI(t testing.TB) string {
	t.Helper()
	mongoOnce.Do(func() {
		if mongoURI = os.Getenv("MONGODB_URI"); mongoURI != "" {
			return
		}
		if mongoDir, mongoErr = stack.MkdirTemp("scalable-shop-ferretdb-"); mongoErr != nil {
			return
		}
		if sharedDB, mongoErr = startMongo(mongoDir); mongoErr == nil {
			mongoURI = sharedDB.URI()
		}
	})
	if mongoErr != nil {
		t.Fatalf("start embedded FerretDB: %v", mongoErr)
	}
	return mongoURI
}

// OwnMongo starts a FerretDB that only this test uses, so it may stop and
// restart it (store outages): StartMongo(ctx, m.Addr(), dir, DevStore()...)
// finds the data again. It is stopped and its data removed when the test
// ends.
func OwnMongo(t testing.TB) (*stack.Mongo, string) {
	t.Helper()
	dir, err := stack.MkdirTemp("scalable-shop-ferretdb-")
	if err != nil {
		t.Fatalf("data folder for FerretDB: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m, err := startMongo(dir)
	if err != nil {
		t.Fatalf("start embedded FerretDB: %v", err)
	}
	t.Cleanup(m.Close)
	return m, dir
}

// DevStore is the store `make run` uses, as options for stack.StartMongo:
// its backend from DEV_STORE (docs/configuration.md), PostgreSQL when
// unset and installed.
func DevStore() []stack.Option {
	b, err := stack.ParseBackend(os.Getenv("DEV_STORE"))
	if err != nil {
		panic(err) // a typo in the test environment; nothing to test with
	}
	return []stack.Option{stack.WithBackend(b)}
}

func startMongo(dir string) (*stack.Mongo, error) {
	return stack.StartMongo(context.Background(), "127.0.0.1:0", dir, DevStore()...)
}

// Unique returns prefix with a short random suffix: topic, group and
// database names that no other test uses.
func Unique(prefix string) string {
	return prefix + "-" + uuid.NewString()[:8]
}

// CreateTopics creates fresh topics on the real broker.
func CreateTopics(t testing.TB, brokers []string, partitions int32, names ...string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("connect to Kafka at %v: %v", brokers, err)
	}
	defer admin.Close()
	for _, name := range names {
		err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
		if err != nil {
			t.Fatalf("create topic %s: %v", name, err)
		}
	}
	// Wait until the topics' leaders are known, so producers do not race them.
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	Eventually(t, 15*time.Second, func() string {
		if err := client.RefreshMetadata(names...); err != nil {
			return err.Error()
		}
		for _, n := range names {
			if ps, err := client.Partitions(n); err != nil || len(ps) != int(partitions) {
				return fmt.Sprintf("topic %s: partitions %v, %v", n, ps, err)
			}
			for p := range partitions {
				if _, err := client.Leader(n, p); err != nil {
					return fmt.Sprintf("topic %s/%d: %v", n, p, err)
				}
			}
		}
		return ""
	})
}

// Main runs a test package that uses the harness and then removes what the
// package shared: the built binaries and the embedded FerretDB with its data.
// Call it from TestMain: func TestMain(m *testing.M) { harness.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if sharedDB != nil {
		sharedDB.Close()
	}
	for _, dir := range []string{mongoDir, binDir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// SyncProducer is a producer that waits for the broker's ack of each send,
// closed when the test ends, for tests that write records themselves.
func SyncProducer(t testing.TB, brokers []string) sarama.SyncProducer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	return producer
}

// ClusterAdmin is an admin client of the brokers; the caller closes it
// (tests call it in polling loops, so it does not wait for the test's end).
func ClusterAdmin(t testing.TB, brokers []string) sarama.ClusterAdmin {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("connect to Kafka at %v: %v", brokers, err)
	}
	return admin
}
