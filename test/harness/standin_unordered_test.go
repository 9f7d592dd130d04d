package harness

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// The unordered consumer's tests (kafkasource_unordered.go,
// UnorderedConsumerVerticle.java and OffsetManager.java at
// knative-v1.23.0), with the data plane's consumer settings
// (ShippedConsumer): they run against the real dispatcher too.

// unorderedDelivery is testDelivery(retry) with spec.ordering unordered.
func unorderedDelivery(retry int) Delivery {
	d := testDelivery(retry)
	d.Ordered = false
	return d
}

// TestKafkaSourceStandIn_unorderedPollsWhileFewerThanMaxPollRecordsInFlight:
// with every delivery held, the consumer keeps polling until at least
// max.poll.records (50) are in flight, and then stops: as a poll returns at
// most 50, never more than 99 are in flight.
func TestKafkaSourceStandIn_unorderedPollsWhileFewerThanMaxPollRecordsInFlight(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic := Unique("standin-inflight")
	CreateTopics(t, brokers, 1, topic)
	const maxPoll, records = 50, 160
	var mu sync.Mutex
	now, most := 0, 0
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		now++
		most = max(most, now)
		mu.Unlock()
		<-release
		mu.Lock()
		now--
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { closeOnce(release) })
	ids := make([][2]string, records)
	for i := range ids {
		ids[i] = [2]string{fmt.Sprint(i), ""}
	}
	produce(t, brokers, topic, ids...)
	d := unorderedDelivery(0)
	d.Timeout = time.Minute
	src := StartKafkaSource(t, SourceConfig{Brokers: brokers, Topic: topic, Group: Unique("g"), Sink: srv.URL, Delivery: d})
	Eventually(t, 60*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		if now < maxPoll {
			return fmt.Sprintf("%d deliveries in flight, want at least max.poll.records (%d)", now, maxPoll)
		}
		return ""
	})
	time.Sleep(time.Second) // time enough for polls the bound should stop
	mu.Lock()
	held, peak := now, most
	mu.Unlock()
	if held < maxPoll || peak > 2*maxPoll-1 {
		t.Errorf("with every delivery held: %d in flight (at most %d), want %d to %d", held, peak, maxPoll, 2*maxPoll-1)
	}
	closeOnce(release)
	Eventually(t, 60*time.Second, func() string {
		if n := src.Delivered.Load(); n != records {
			return fmt.Sprintf("delivered %d, want %d", n, records)
		}
		return ""
	})
	if mu.Lock(); most > 2*maxPoll-1 {
		t.Errorf("at most %d deliveries in flight, want at most %d", most, 2*maxPoll-1)
	}
	mu.Unlock()
}

// TestKafkaSourceStandIn_unorderedRetryHoldsBackOnlyTheCommit: a record in
// retry holds back none of the records behind it in its partition, but the
// offset committed stops at it (the contiguous finished prefix), so after a
// crash delivery starts again from it: the records behind it come twice.
func TestKafkaSourceStandIn_unorderedRetryHoldsBackOnlyTheCommit(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic, group := Unique("standin-prefix"), Unique("g")
	CreateTopics(t, brokers, 1, topic)
	var mu sync.Mutex
	failing := true
	rec, sink := startRecorder(t, func(h http.Header) int {
		mu.Lock()
		defer mu.Unlock()
		if failing && h.Get("Ce-Id") == "2" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	var ids [][2]string
	for i := range 10 {
		ids = append(ids, [2]string{fmt.Sprint(i), ""})
	}
	produce(t, brokers, topic, ids...)
	cfg := SourceConfig{Brokers: brokers, Topic: topic, Group: group, Sink: sink, Delivery: unorderedDelivery(1000)}
	first := StartKafkaSource(t, cfg)
	Eventually(t, 60*time.Second, func() string {
		if n := first.Delivered.Load(); n != 9 {
			return fmt.Sprintf("delivered %d while offset 2 is retried, want the other 9", n)
		}
		return ""
	})
	// More than a commit interval after the 9 finished.
	time.Sleep(ShippedConsumer().CommitInterval + time.Second)
	if got := committed(t, brokers, group, topic); got != 2 {
		t.Fatalf("committed offset with 0-1 and 3-9 delivered: got %d, want 2 (the first unfinished)", got)
	}
	first.Crash()
	mu.Lock()
	failing = false
	mu.Unlock()
	before := len(rec.requests())
	second := StartKafkaSource(t, cfg)
	Eventually(t, 60*time.Second, func() string {
		if n := second.Delivered.Load(); n != 8 {
			return fmt.Sprintf("after the crash: delivered %d, want 8 (offsets 2 to 9)", n)
		}
		return ""
	})
	var again []string
	for _, h := range rec.requests()[before:] {
		again = append(again, h.Get("Ce-Id"))
	}
	slices.Sort(again)
	if want := []string{"2", "3", "4", "5", "6", "7", "8", "9"}; !slices.Equal(again, want) {
		t.Errorf("delivered after the crash: got %v, want %v", again, want)
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// TestMaxPollInterval_isTheDispatchers: the group waits for a member that
// does not poll as long as the dispatcher's max.poll.interval.ms, which it
// computes from the shipped delivery: 2 x 50 x (10 s + 130 x (10 s + 1 s)
// + 0.5 s x (1 + ... + 130)) = 569,750 s.
func TestMaxPollInterval_isTheDispatchers(t *testing.T) {
	t.Parallel()
	if got, want := maxPollInterval(ShippedDelivery(t), ShippedConsumer().MaxPollRecords), 569750*time.Second; got != want {
		t.Errorf("max.poll.interval.ms with the shipped delivery: got %v, want %v", got, want)
	}
	if got, want := maxPollInterval(testDelivery(1000), 50), time.Duration(math.MaxInt32)*time.Millisecond; got != want {
		t.Errorf("max.poll.interval.ms past Integer.MAX_VALUE ms: got %v, want %v", got, want)
	}
}
