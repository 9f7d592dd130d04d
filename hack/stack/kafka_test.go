package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// shopTopics are the topics the shop uses, as the dev stack creates them.
var shopTopics = map[string]int32{"purchases": 3, "purchases-dlq": 1}

// startKafka starts kfake on a free loopback port and stops it when the test
// ends.
func startKafka(t *testing.T, addr string) *Kafka {
	t.Helper()
	start := time.Now()
	k, err := StartKafka(t.Context(), addr, shopTopics, WithLogOutput(t.Output()))
	if err != nil {
		t.Fatalf("StartKafka(%q): %v", addr, err)
	}
	t.Logf("kfake listening on %s after %v", k.Addr(), time.Since(start))
	t.Cleanup(k.Close)
	return k
}

// saramaConfig is the client configuration the shop uses: an idempotent
// producer waiting for all in-sync replicas, and a consumer group that starts
// at the oldest offset, marks each message once handled and lets sarama
// commit the marks in the background and when the session ends.
//
// A synchronous session.Commit per message would be slow: the broker handles
// one request per connection at a time, so the commit waits behind the
// consumer's long-poll fetch (Consumer.MaxWaitTime, 500ms by default).
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "stack-test"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	return cfg
}

// produce sends values keyed by user and returns the partition of each key.
func produce(t *testing.T, brokers []string, topic string, values ...int) map[string]int32 {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, saramaConfig())
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Errorf("close producer: %v", err)
		}
	}()
	partitions := map[string]int32{}
	for _, v := range values {
		key := fmt.Sprintf("user-%d", v%5)
		part, _, err := p.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(strconv.Itoa(v)),
		})
		if err != nil {
			t.Fatalf("send %d: %v", v, err)
		}
		if prev, ok := partitions[key]; ok && prev != part {
			t.Errorf("key %s: got partitions %d and %d, want one", key, prev, part)
		}
		partitions[key] = part
	}
	return partitions
}

// collector is a consumer group handler that hands every message to the
// test and marks it once handed over, as the store marks after its write.
type collector struct{ got chan<- int }

func (collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (c collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			v, err := strconv.Atoi(string(m.Value))
			if err != nil {
				return fmt.Errorf("message %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
			}
			select {
			case c.got <- v:
			case <-s.Context().Done():
				return nil // not handled, so not marked: the next owner gets it
			}
			s.MarkMessage(m, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

// joinGroup runs one consumer group member on topic until ctx ends, sending
// the values it consumes to got. The returned function stops it and waits.
func joinGroup(t *testing.T, ctx context.Context, brokers []string, group, topic string, got chan<- int) (stop func()) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup(brokers, group, saramaConfig())
	if err != nil {
		t.Fatalf("new consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, collector{got}); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				t.Errorf("consume: %v", err)
				return
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		if err := cg.Close(); err != nil {
			t.Errorf("close consumer group: %v", err)
		}
	}
}

// receive reads values from got until it has n distinct ones, failing the
// test if they do not arrive. Duplicates are allowed (delivery is
// at-least-once) but logged.
func receive(t *testing.T, got <-chan int, n int) []int {
	t.Helper()
	timeout := time.After(30 * time.Second)
	seen := map[int]bool{}
	for len(seen) < n {
		select {
		case v := <-got:
			if seen[v] {
				t.Logf("value %d delivered again", v)
			}
			seen[v] = true
		case <-timeout:
			t.Fatalf("received %d of %d distinct messages before the timeout", len(seen), n)
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestKafka_sarama_idempotent_producer_and_group_resume_from_commits(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	start := time.Now()
	parts := produce(t, k.Brokers(), "purchases", seq(0, 30)...)
	t.Logf("produced 30 idempotent messages in %v, key->partition %v", time.Since(start), parts)
	if used := len(slices.Compact(slices.Sorted(maps.Values(parts)))); used < 2 {
		t.Errorf("partitions used: got %d, want keys spread over >= 2", used)
	}

	got := make(chan int)
	start = time.Now()
	stop := joinGroup(t, ctx, k.Brokers(), "cm-api", "purchases", got)
	if vs, want := receive(t, got, 30), seq(0, 30); !slices.Equal(vs, want) {
		t.Errorf("first run: got %v, want %v", vs, want)
	}
	t.Logf("group joined and consumed 30 messages in %v", time.Since(start))
	stop()
	assertCommitted(t, k.Brokers(), "cm-api", "purchases", 30)

	produce(t, k.Brokers(), "purchases", seq(30, 35)...)
	stop = joinGroup(t, ctx, k.Brokers(), "cm-api", "purchases", got)
	defer stop()
	if vs, want := receive(t, got, 5), seq(30, 35); !slices.Equal(vs, want) {
		t.Errorf("second run: got %v, want only the new %v (resume from committed offsets)", vs, want)
	}
}

// assertCommitted checks that group's committed offsets on topic add up to n.
func assertCommitted(t *testing.T, brokers []string, group, topic string, n int64) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, saramaConfig())
	if err != nil {
		t.Fatalf("new admin: %v", err)
	}
	defer admin.Close()
	res, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	var sum int64
	for p, b := range res.Blocks[topic] {
		if b.Err != sarama.ErrNoError {
			t.Errorf("partition %d: %v", p, b.Err)
		}
		if b.Offset > 0 {
			sum += b.Offset
		}
	}
	if sum != n {
		t.Errorf("committed offsets on %s: got sum %d, want %d", topic, sum, n)
	}
}

func TestKafka_two_group_members_lose_nothing_across_rebalance(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	got := make(chan int)
	stop1 := joinGroup(t, ctx, k.Brokers(), "cm-api", "purchases", got)
	defer stop1()
	stop2 := joinGroup(t, ctx, k.Brokers(), "cm-api", "purchases", got)
	defer stop2()
	produce(t, k.Brokers(), "purchases", seq(0, 20)...)
	if vs, want := receive(t, got, 20), seq(0, 20); !slices.Equal(vs, want) {
		t.Errorf("got %v, want %v", vs, want)
	}
}

func TestKafka_topics_exist_up_front_and_can_be_created(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "127.0.0.1:0")
	admin, err := sarama.NewClusterAdmin(k.Brokers(), saramaConfig())
	if err != nil {
		t.Fatalf("new admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic("purchases-test-1", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	want := map[string]int32{"purchases": 3, "purchases-dlq": 1, "purchases-test-1": 2}
	for name, parts := range want {
		if got := topics[name].NumPartitions; got != parts {
			t.Errorf("topic %s: got %d partitions, want %d", name, got, parts)
		}
	}
	produce(t, k.Brokers(), "purchases-dlq", 1)
	produce(t, k.Brokers(), "purchases-test-1", 1)
}

func TestKafka_restart_on_same_addr(t *testing.T) {
	t.Parallel()
	first := startKafka(t, "127.0.0.1:0")
	first.Close()
	second := startKafka(t, first.Addr())
	if got, want := second.Addr(), first.Addr(); got != want {
		t.Errorf("addr: got %s, want %s", got, want)
	}
	produce(t, second.Brokers(), "purchases", 1)
	if other, err := StartKafka(t.Context(), second.Addr(), nil); err == nil {
		other.Close()
		t.Errorf("StartKafka on busy %s: got nil error, want one", second.Addr())
	}
}

func TestKafka_restart_with_data_dir_keeps_records_and_offsets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	first, err := StartKafka(ctx, "127.0.0.1:0", shopTopics, WithDataDir(dir), WithLogOutput(t.Output()))
	if err != nil {
		t.Fatalf("StartKafka: %v", err)
	}
	produce(t, first.Brokers(), "purchases", seq(0, 10)...)
	got := make(chan int)
	stop := joinGroup(t, ctx, first.Brokers(), "cm-api", "purchases", got)
	receive(t, got, 10)
	stop()
	first.Close()

	second, err := StartKafka(ctx, first.Addr(), shopTopics, WithDataDir(dir), WithLogOutput(t.Output()))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(second.Close)
	assertCommitted(t, second.Brokers(), "cm-api", "purchases", 10)
	produce(t, second.Brokers(), "purchases", seq(10, 15)...)
	stop = joinGroup(t, ctx, second.Brokers(), "cm-api", "purchases", got)
	defer stop()
	if vs, want := receive(t, got, 5), seq(10, 15); !slices.Equal(vs, want) {
		t.Errorf("after restart: got %v, want only the new %v", vs, want)
	}
}

func TestKafka_connected_producer_recovers_after_restart(t *testing.T) {
	t.Parallel()
	k := startKafka(t, "127.0.0.1:0")
	p, err := sarama.NewSyncProducer(k.Brokers(), saramaConfig())
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	defer p.Close()
	msg := func() *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: "purchases", Key: sarama.StringEncoder("user-1"), Value: sarama.StringEncoder("1")}
	}
	if _, _, err := p.SendMessage(msg()); err != nil {
		t.Fatalf("send before restart: %v", err)
	}
	k.Close()
	if _, _, err := p.SendMessage(msg()); err == nil {
		t.Errorf("send while down: got nil error, want one")
	}
	startKafka(t, k.Addr())
	if _, _, err := p.SendMessage(msg()); err != nil {
		t.Errorf("send after restart: got %v, want the idempotent producer to recover", err)
	}
}
