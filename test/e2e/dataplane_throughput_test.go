package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestDataPlaneThroughput measures how many events per second the real
// KafkaSource dispatcher delivers from a topic of 10 partitions (the
// shop's): as shipped (spec.ordering unordered, the data plane's
// max.poll.records 50) to a subscriber that answers at once, so that only
// the data plane is measured, and to the real cm-api storing into the
// test's store; then with spec.ordering ordered, the documented option, and
// what a platform engineer could add to it. It reports figures, over all
// the events and over their second half (the dispatcher's JVM, just
// started, is faster once it has compiled its hot paths); it asserts only
// that every event arrived (timing is not asserted: the machine is shared).
// UnorderedConsumerVerticle.java polls again as soon as fewer than
// max.poll.records are in flight; OrderedConsumerVerticle.java polls at
// most every 200 ms (POLLING_MS) for at most max.poll.records, so an
// ordered consumer's ceiling is about 250 events/s. The ordered variants:
// the egress's vReplicas (in the dispatcher they only size its rate
// limiter, which the shipped features leave off), max.poll.records raised in
// the data plane's ConfigMap, and more dispatcher pods sharing the
// partitions (what a KafkaSource's consumers become when they are placed on
// several pods).
// make test-dataplane runs it under flock /tmp/bench.lock.
func TestDataPlaneThroughput(t *testing.T) {
	harness.RealDataPlane(t)
	brokers := harness.Integration(t)
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("DATAPLANE_EVENTS")); err == nil && v > 0 {
		n = v
	}
	for _, v := range []struct {
		name    string
		pods    int
		opt     harness.DispatcherOptions
		ordered bool
		toAPI   bool // deliver to cm-api, not to the subscriber answering at once
	}{
		{"shipped_1_pod", 1, harness.DispatcherOptions{}, false, false},
		{"shipped_1_pod_to_cm-api", 1, harness.DispatcherOptions{}, false, true},
		{"ordered_1_pod", 1, harness.DispatcherOptions{}, true, false},
		{"ordered_1_pod_vReplicas_10", 1, harness.DispatcherOptions{VReplicas: 10}, true, false},
		{"ordered_1_pod_max.poll.records_500", 1, harness.DispatcherOptions{Consumer: map[string]string{"max.poll.records": "500"}}, true, false},
		{"ordered_2_pods", 2, harness.DispatcherOptions{}, true, false},
		{"ordered_2_pods_max.poll.records_500", 2, harness.DispatcherOptions{Consumer: map[string]string{"max.poll.records": "500"}}, true, false},
	} {
		t.Run(v.name, func(t *testing.T) {
			// A topic per variant, written only once every pod consumes, so
			// that the figure holds no start-up and no rebalance.
			topic := harness.Unique("throughput")
			harness.CreateTopics(t, brokers, 10, topic)
			cfg := harness.SourceConfig{Brokers: brokers, Topic: topic, Group: harness.Unique("throughput"),
				Delivery: harness.ShippedDelivery(t)}
			cfg.Delivery.Ordered = v.ordered
			var delivered func() progress
			if v.toAPI {
				cfg.Sink, cfg.Token, delivered = storingAPI(t, brokers, int64(n/2))
			} else {
				sub := &countingSubscriber{p: progress{half: int64(n / 2)}}
				srv := httptest.NewServer(sub)
				t.Cleanup(srv.Close)
				cfg.Sink, delivered = srv.URL+"/", sub.progress
			}
			uid := harness.Unique("kafkasource")
			for range v.pods {
				harness.StartDispatcher(t, cfg, uid, v.opt)
			}
			harness.WaitGroupMembers(t, brokers, cfg.Group, v.pods)
			produceEvents(t, brokers, topic, n)
			harness.Eventually(t, 5*time.Minute, func() string {
				if got := delivered().count; got < int64(n) {
					return fmt.Sprintf("delivered %d of %d", got, n)
				}
				return ""
			})
			p := delivered()
			t.Logf("%s: %d events in %v: %.0f events/s; the second half %.0f events/s (ordered %v, to cm-api %v, 10 partitions, %d dispatcher pod(s), vReplicas %d, consumer overrides %v)",
				v.name, n, p.last.Sub(p.first).Round(time.Millisecond), p.rate(p.base, p.first), p.rate(p.midN, p.mid),
				v.ordered, v.toAPI, v.pods, max(1, v.opt.VReplicas), v.opt.Consumer)
			if p.count != int64(n) {
				t.Logf("%s: %d deliveries for %d events (redeliveries after the group's first rebalance)", v.name, p.count, n)
			}
		})
	}
}

// progress is what a variant's counter saw: count events so far; base of
// them at the first count, at first; midN at the first count of half or
// more, at mid; and last, when the count last grew. A freshly started
// dispatcher's JVM is still compiling its hot paths in the first half, so
// the second half's rate is the warm one.
type progress struct {
	count, base, half, midN int64
	first, mid, last        time.Time
}

// rate is the events per second from the count n at time from to the last.
func (p progress) rate(n int64, from time.Time) float64 {
	return float64(p.count-n) / p.last.Sub(from).Seconds()
}

// add counts to count events at now.
func (p *progress) add(count int64, now time.Time) {
	if count <= p.count {
		return
	}
	if p.count == 0 {
		p.base, p.first = count, now
	}
	if p.mid.IsZero() && count >= p.half {
		p.midN, p.mid = count, now
	}
	p.count, p.last = count, now
}

// storingAPI starts cm-api in Knative mode on the test's store, logging at
// info as deployed, and returns its URL, the source's token for it, and a
// reading of what it stored (or found stored already): each call reads its
// metrics (Eventually calls it every 50 ms).
func storingAPI(t *testing.T, brokers []string, half int64) (string, func() string, func() progress) {
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(false, map[string]string{"LOG_LEVEL": "info"})
	p := progress{half: half}
	return shop.APIURL + "/", shop.SourceToken, func() progress {
		p.add(int64(metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="stored"}`)+
			metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="duplicate"}`)), time.Now())
		return p
	}
}

// countingSubscriber answers every event 202 at once and counts it.
type countingSubscriber struct {
	mu sync.Mutex
	p  progress
}

func (c *countingSubscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	c.mu.Lock()
	c.p.add(c.p.count+1, now)
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (c *countingSubscriber) progress() progress {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p
}

// produceEvents writes n purchase CloudEvents (binary mode, as the KafkaSink
// writes them) keyed by 100 users, so that all 10 partitions hold some.
func produceEvents(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	producer := harness.SyncProducer(t, brokers)
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
