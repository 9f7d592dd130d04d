package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
)

// TestKafkaPartitioner_matchesKafkaVectors checks the partitioner against
// the murmur2 vectors of Apache Kafka's own UtilsTest.testMurmur2
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java):
// Kafka's partition for a key is (murmur2(key) & 0x7fffffff) % partitions
// (BuiltInPartitioner.partitionForKey), so each signed hash is turned into
// the partition Kafka would pick for several partition counts.
func TestKafkaPartitioner_matchesKafkaVectors(t *testing.T) {
	t.Parallel()
	vectors := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	p := broker.NewKafkaPartitioner("purchases")
	for key, hash := range vectors {
		for _, n := range []int32{1, 3, 10, 12, 50, 997} {
			want := (hash & 0x7fffffff) % n
			got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("key %q over %d partitions: got partition %d, want %d (Kafka's murmur2)", key, n, got, want)
			}
		}
	}
}

func TestKafkaPartitioner_unkeyedRecordsAreNotBound(t *testing.T) {
	t.Parallel()
	p := broker.NewKafkaPartitioner("purchases")
	dyn, ok := p.(sarama.DynamicConsistencyPartitioner)
	if !ok {
		t.Fatal("got a partitioner without MessageRequiresConsistency, want one")
	}
	if dyn.MessageRequiresConsistency(&sarama.ProducerMessage{}) {
		t.Error("unkeyed record: got bound to its partition, want free to go elsewhere")
	}
	if !dyn.MessageRequiresConsistency(&sarama.ProducerMessage{Key: sarama.StringEncoder("005")}) {
		t.Error("keyed record: got free to go elsewhere, want bound to its partition")
	}
	got, err := p.Partition(&sarama.ProducerMessage{}, 7)
	if err != nil || got < 0 || got >= 7 {
		t.Errorf("unkeyed record over 7 partitions: got %d, %v, want a partition in [0, 7)", got, err)
	}
}

// TestKafkaPartitioner_agreesWithJavaProducerOnRealBroker produces the same
// keys with Kafka's Java producer (testdata/JavaPartitions.java, the
// KafkaSink's partitioning) and with the functions' sarama producer, on the
// real broker, and wants every key on the same partition both times.
func TestKafkaPartitioner_agreesWithJavaProducerOnRealBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka broker (KAFKA_BROKERS) and its jars (KAFKA_CLASSPATH); skipped with -short")
	}
	brokers, classpath := os.Getenv("KAFKA_BROKERS"), os.Getenv("KAFKA_CLASSPATH")
	if brokers == "" || classpath == "" {
		t.Fatal("KAFKA_BROKERS and KAFKA_CLASSPATH are not set: run `make test`, which starts a real broker; -short skips this")
	}
	cfg := broker.Config{Brokers: strings.Split(brokers, ","), ClientID: "partitioner-test"}
	topic := fmt.Sprintf("partitioner-%d", time.Now().UnixNano())
	createTopic(t, cfg, topic, 12)

	keys := []string{"005", "joe", "21", "foobar", "a-little-bit-longer-string", "ünïcode-user", ""}
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("user-%03d", i))
	}
	java := javaPartitions(t, classpath, brokers, topic, keys)

	sc, err := cfg.Producer()
	if err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer producer.Close()
	for _, key := range keys {
		part, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key),
			Value: sarama.StringEncoder("{}")})
		if err != nil {
			t.Fatalf("produce %q: %v", key, err)
		}
		if want, ok := java[key]; !ok || part != want {
			t.Errorf("key %q: got partition %d from sarama, want %d as Kafka's Java producer chose", key, part, want)
		}
	}
}

func createTopic(t *testing.T, cfg broker.Config, topic string, partitions int32) {
	t.Helper()
	sc, err := cfg.Producer()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// javaPartitions runs testdata/JavaPartitions.java and returns the partition
// Kafka's Java producer put each key on.
func javaPartitions(t *testing.T, classpath, brokers, topic string, keys []string) map[string]int32 {
	t.Helper()
	java := os.Getenv("JAVA")
	if java == "" {
		java = "java"
	}
	src, err := filepath.Abs(filepath.Join("testdata", "JavaPartitions.java"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, append([]string{"-cp", classpath, src, brokers, topic}, keys...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("java JavaPartitions: %v\n%s", err, stderr.String())
	}
	got := map[string]int32{}
	for line := range strings.Lines(stdout.String()) {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line[i+1:]), 10, 32)
		if err != nil {
			t.Fatalf("java JavaPartitions: unexpected line %q", line)
		}
		got[line[:i]] = int32(n)
	}
	if len(got) != len(keys) {
		t.Fatalf("java JavaPartitions: got %d partitions, want %d\n%s", len(got), len(keys), stdout.String())
	}
	return got
}
