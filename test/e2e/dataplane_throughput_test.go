package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestDataPlaneThroughput measures how many events per second the real
// KafkaSource dispatcher delivers, ordered as shipped, from a topic of 10
// partitions (the shop's) to a subscriber that answers at once, so that
// only the data plane is measured. It reports figures; it asserts only that
// every event arrived (timing is not asserted: the machine is shared).
// OrderedConsumerVerticle.java polls at most every 200 ms (POLLING_MS) for at
// most max.poll.records (50 in the shipped data-plane ConfigMap), so one
// consumer's ceiling is about 250 events/s. Variants: the egress's
// vReplicas (in the dispatcher they only size its rate limiter, which the
// shipped features leave off), max.poll.records raised in the data plane's
// ConfigMap, and more dispatcher pods sharing the partitions (what a
// KafkaSource's consumers become when they are placed on several pods).
// Unordered delivery (spec.ordering unordered) is measured too.
// make test-dataplane runs it under flock /tmp/bench.lock.
func TestDataPlaneThroughput(t *testing.T) {
	harness.RealDataPlane(t)
	brokers := harness.Integration(t)
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("DATAPLANE_EVENTS")); err == nil && v > 0 {
		n = v
	}
	for _, v := range []struct {
		name      string
		pods      int
		opt       harness.DispatcherOptions
		unordered bool
	}{
		{"shipped_1_pod", 1, harness.DispatcherOptions{}, false},
		{"1_pod_vReplicas_10", 1, harness.DispatcherOptions{VReplicas: 10}, false},
		{"1_pod_max.poll.records_500", 1, harness.DispatcherOptions{Consumer: map[string]string{"max.poll.records": "500"}}, false},
		{"2_pods", 2, harness.DispatcherOptions{}, false},
		{"2_pods_max.poll.records_500", 2, harness.DispatcherOptions{Consumer: map[string]string{"max.poll.records": "500"}}, false},
		{"1_pod_unordered", 1, harness.DispatcherOptions{}, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			sub := &countingSubscriber{}
			srv := httptest.NewServer(sub)
			t.Cleanup(srv.Close)
			// A topic per variant, written only once every pod consumes, so
			// that the figure holds no start-up and no rebalance.
			topic := harness.Unique("throughput")
			harness.CreateTopics(t, brokers, 10, topic)
			cfg := harness.SourceConfig{Brokers: brokers, Topic: topic, Group: harness.Unique("throughput"),
				Sink: srv.URL + "/", Delivery: harness.ShippedDelivery(t)}
			cfg.Delivery.Ordered = !v.unordered
			uid := harness.Unique("kafkasource")
			for range v.pods {
				harness.StartDispatcher(t, cfg, uid, v.opt)
			}
			harness.WaitGroupMembers(t, brokers, cfg.Group, v.pods)
			produceEvents(t, brokers, topic, n)
			harness.Eventually(t, 5*time.Minute, func() string {
				if got := sub.count.Load(); got < int64(n) {
					return fmt.Sprintf("delivered %d of %d", got, n)
				}
				return ""
			})
			first, last := sub.span()
			rate := float64(n-1) / last.Sub(first).Seconds()
			t.Logf("%s: %d events in %v: %.0f events/s (ordered %v, 10 partitions, %d dispatcher pod(s), vReplicas %d, consumer overrides %v)",
				v.name, n, last.Sub(first).Round(time.Millisecond), rate, !v.unordered, v.pods, max(1, v.opt.VReplicas), v.opt.Consumer)
			if got := sub.count.Load(); got != int64(n) {
				t.Logf("%s: %d deliveries for %d events (redeliveries after the group's first rebalance)", v.name, got, n)
			}
		})
	}
}

// countingSubscriber answers every event 202 at once and remembers when
// the first and the last arrived.
type countingSubscriber struct {
	count       atomic.Int64
	mu          sync.Mutex
	first, last time.Time
}

func (c *countingSubscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	c.mu.Lock()
	if c.first.IsZero() {
		c.first = now
	}
	c.last = now
	c.mu.Unlock()
	c.count.Add(1)
	w.WriteHeader(http.StatusAccepted)
}

func (c *countingSubscriber) span() (time.Time, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first, c.last
}

// produceEvents writes n purchase CloudEvents (binary mode, as the KafkaSink
// writes them) keyed by 100 users, so that all 10 partitions hold some.
func produceEvents(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, 0, 500)
	for i := range n {
		user := fmt.Sprintf("u-%d", i%100)
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(user),
			Headers: ceHeaders(fmt.Sprintf("tp-%d", i), eventType),
			Value:   sarama.StringEncoder(`{"username":"` + user + `","userid":"` + user + `","price":"1.00","timestamp":"2024-05-31T15:54:32.204Z"}`)})
		if len(msgs) == cap(msgs) || i == n-1 {
			if err := producer.SendMessages(msgs); err != nil {
				t.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
}
