package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// TestConsumeClaimBoundsRecordsInFlightAcrossPartitions runs three claims at
// once on a store that holds every save for a while: no more than the
// handler's in-flight bound are ever saved at once, all partitions
// together, and every partition is marked completely and in offset order.
func TestConsumeClaimBoundsRecordsInFlightAcrossPartitions(t *testing.T) {
	t.Parallel()
	const inflight, partitions, perPartition = 8, 3, 40
	st := &slowStore{memStore: newMemStore(), delay: 2 * time.Millisecond}
	b := newBatcher(st, testMetrics(), inflight, time.Millisecond, time.Second, 4)
	defer b.Close()
	h := newRecordHandler(slog.New(slog.DiscardHandler), b, nil, "purchases-dlq", time.Second, inflight, testMetrics())
	sess, _, wait := consumeClaims(t, h, partitions, perPartition)
	wait()
	if got := st.max.Load(); got > inflight || got < 2 {
		t.Errorf("at most %d saves at once, want between 2 and %d", got, inflight)
	}
	if st.count() != partitions*perPartition {
		t.Errorf("%d purchases stored, want %d", st.count(), partitions*perPartition)
	}
	checkMarkedInOrder(t, sess, partitions, perPartition)
}

// consumeClaims runs h on partitions claims at once, each of perPartition
// purchase records, within 30 s; wait waits until every claim is done.
func consumeClaims(t *testing.T, h *recordHandler, partitions int32, perPartition int64) (sess *fakeSession,
	claims []*fakeClaim, wait func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	sess = &fakeSession{ctx: ctx, marked: map[int32][]int64{}}
	var wg sync.WaitGroup
	for part := range partitions {
		claim := &fakeClaim{msgs: make(chan *sarama.ConsumerMessage, perPartition), hwm: perPartition, partition: part}
		for off := range perPartition {
			claim.msgs <- purchaseRecord(t, part, off)
		}
		close(claim.msgs)
		claims = append(claims, claim)
		wg.Go(func() {
			if err := h.ConsumeClaim(sess, claim); err != nil {
				t.Errorf("partition %d: %v", part, err)
			}
		})
	}
	return sess, claims, func() { wg.Wait(); cancel() }
}

// checkMarkedInOrder wants every partition's records marked, in offset order.
func checkMarkedInOrder(t *testing.T, sess *fakeSession, partitions int32, perPartition int64) {
	t.Helper()
	for part := range partitions {
		offs := sess.marked[part]
		if int64(len(offs)) != perPartition {
			t.Fatalf("partition %d: %d records marked, want %d", part, len(offs), perPartition)
		}
		for i, off := range offs {
			if off != int64(i) {
				t.Fatalf("partition %d: marked %v, want offsets 0..%d in order", part, offs, perPartition-1)
			}
		}
	}
}

// purchaseRecord is a purchase as cm-server writes it to partition part at
// offset off: a binary-mode CloudEvent.
func purchaseRecord(t testing.TB, part int32, off int64) *sarama.ConsumerMessage {
	t.Helper()
	p := purchase.Purchase{ID: fmt.Sprintf("p-%d-%d", part, off), Username: "u", UserID: "1", Price: 100,
		Timestamp: time.Unix(off, 0).UTC()}
	e := purchase.NewEvent(p, "/test")
	pm := &sarama.ProducerMessage{}
	if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), pm); err != nil {
		t.Fatal(err)
	}
	value, err := pm.Value.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msg := &sarama.ConsumerMessage{Topic: "purchases", Partition: part, Offset: off, Value: value}
	for i := range pm.Headers {
		msg.Headers = append(msg.Headers, &pm.Headers[i])
	}
	return msg
}

// slowStore is a memStore whose writes take delay, counting the most
// purchases being written at once.
type slowStore struct {
	*memStore
	delay    time.Duration
	now, max atomic.Int64
}

func (s *slowStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	n := s.now.Add(int64(len(items)))
	defer s.now.Add(-int64(len(items)))
	for m := s.max.Load(); n > m && !s.max.CompareAndSwap(m, n); m = s.max.Load() {
	}
	time.Sleep(s.delay)
	return s.memStore.SaveMany(ctx, items)
}

// fakeSession records the marked offsets of each partition.
type fakeSession struct {
	sarama.ConsumerGroupSession
	ctx    context.Context
	mu     sync.Mutex
	marked map[int32][]int64
}

func (s *fakeSession) Context() context.Context { return s.ctx }

func (s *fakeSession) MarkMessage(msg *sarama.ConsumerMessage, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marked[msg.Partition] = append(s.marked[msg.Partition], msg.Offset)
}

// fakeClaim delivers msgs.
type fakeClaim struct {
	sarama.ConsumerGroupClaim
	msgs      chan *sarama.ConsumerMessage
	hwm       int64
	partition int32
	initial   int64
}

func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }
func (c *fakeClaim) HighWaterMarkOffset() int64               { return c.hwm }
func (c *fakeClaim) Topic() string                            { return "purchases" }
func (c *fakeClaim) Partition() int32                         { return c.partition }
func (c *fakeClaim) InitialOffset() int64                     { return c.initial }

// TestConsumeClaimThroughBatcherRetriesFailedWrites: records go through the
// batcher without a goroutine each; while the store fails, nothing is
// marked, and once it works again every record is stored once and every
// partition marked completely, in offset order. It runs in a bubble
// (testing/synctest): the store is looked at only when every goroutine is
// blocked and each record the handler holds has been refused twice (queued,
// then retried), so a mark that followed a failed write would have happened.
func TestConsumeClaimThroughBatcherRetriesFailedWrites(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const partitions, perPartition, inflight = 3, 100, 64
		st := &recordingStore{memStore: newMemStore(), delay: time.Millisecond, fail: errors.New("store down")}
		b := newBatcher(st, testMetrics(), 50, time.Millisecond, time.Second, 2)
		defer b.Close()
		h := newRecordHandler(slog.New(slog.DiscardHandler), b, nil, "purchases-dlq", time.Second, inflight, testMetrics())
		sess, _, wait := consumeClaims(t, h, partitions, perPartition)
		for st.written() < 2*inflight {
			time.Sleep(storeBackoff.First) // the bubble's clock: the retries come due, no real time passes
		}
		synctest.Wait()
		sess.mu.Lock()
		for part, offs := range sess.marked {
			t.Errorf("partition %d: marked %v while the store failed, want nothing", part, offs)
		}
		sess.mu.Unlock()
		st.mu.Lock()
		st.fail = nil
		st.mu.Unlock()
		wait()
		if got := st.count(); got != partitions*perPartition {
			t.Errorf("%d purchases stored, want %d", got, partitions*perPartition)
		}
		checkMarkedInOrder(t, sess, partitions, perPartition)
	})
}

// BenchmarkConsumeRecord is one record of the topic through the consumer's
// handler into the batcher (a store that keeps nothing), per purchase:
// decoding the CloudEvent, queuing, the batch write's bookkeeping, marking.
func BenchmarkConsumeRecord(b *testing.B) {
	const perClaim = 1000
	st := discardBatchStore{}
	bt := newBatcher(st, testMetrics(), 500, time.Millisecond, time.Second, 2)
	defer bt.Close()
	h := newRecordHandler(slog.New(slog.DiscardHandler), bt, nil, "purchases-dlq", time.Second, 1000, testMetrics())
	h.lagEvery = time.Hour
	msgs := make([]*sarama.ConsumerMessage, perClaim)
	for i := range msgs {
		msgs[i] = purchaseRecord(b, 0, int64(i))
	}
	sess := &fakeSession{ctx: context.Background(), marked: map[int32][]int64{}}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		claim := &fakeClaim{msgs: make(chan *sarama.ConsumerMessage, perClaim), hwm: perClaim}
		for _, m := range msgs {
			claim.msgs <- m
		}
		close(claim.msgs)
		if err := h.ConsumeClaim(sess, claim); err != nil {
			b.Fatal(err)
		}
		sess.marked[0] = sess.marked[0][:0]
		n += perClaim
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/purchase")
}

// discardBatchStore stores nothing and says every write worked.
type discardBatchStore struct{ *memStore }

func (discardBatchStore) SaveMany(_ context.Context, items []saveItem) []saveResult {
	return make([]saveResult, len(items))
}
