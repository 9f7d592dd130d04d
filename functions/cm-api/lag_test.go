package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// blockedStore fails every save of the purchase with id stuck until
// release is closed, as a store that rejects one write for a while would.
type blockedStore struct {
	*memStore
	stuck   string
	release chan struct{}
}

func (s *blockedStore) Save(ctx context.Context, p purchase.Purchase) (bool, error) {
	if p.ID == s.stuck {
		select {
		case <-s.release:
		default:
			return false, errors.New("write timed out")
		}
	}
	return s.memStore.Save(ctx, p)
}

func (s *blockedStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	return saveEach(ctx, s.Save, items)
}

// TestLagIsTruthfulDuringAStall stalls a partition on its first record
// while the producer keeps writing: the lag must follow the brokers'
// high-water mark from the last marked offset (not freeze when pulling
// stops), the oldest pending record's age must grow, and once the
// partition is revoked its series must be gone.
func TestLagIsTruthfulDuringAStall(t *testing.T) {
	t.Parallel()
	const records, start = 40, 100
	st := &blockedStore{memStore: newMemStore(), stuck: "p-3-100", release: make(chan struct{})}
	m := testMetrics()
	h := newRecordHandler(slog.New(slog.DiscardHandler), testBatcher(t, st), nil, "purchases-dlq", time.Second, 4, m)
	h.lagEvery = 10 * time.Millisecond
	var mu sync.Mutex
	hwm := int64(start + records)
	h.offsetAt = func(_ string, _ int32, at int64) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if at != sarama.OffsetNewest {
			return 0, fmt.Errorf("offset at %d: only the newest is asked for here", at)
		}
		return hwm, nil
	}
	claim := &fakeClaim{msgs: make(chan *sarama.ConsumerMessage, records), hwm: start, partition: 3, initial: start}
	for off := range int64(records) {
		claim.msgs <- purchaseRecord(t, 3, start+off)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &fakeSession{ctx: ctx, marked: map[int32][]int64{}}
	done := make(chan error, 1)
	go func() { done <- h.ConsumeClaim(sess, claim) }()

	lag := func() float64 { return testutil.ToFloat64(m.lag.WithLabelValues("purchases", "3")) }
	age := func() float64 { return testutil.ToFloat64(m.oldestAge.WithLabelValues("purchases", "3")) }
	oldest := func() float64 { return testutil.ToFloat64(m.oldestOffset.WithLabelValues("purchases", "3")) }
	waitFor(t, func() string {
		if lag() != records || oldest() != start || age() < 0.2 {
			return fmt.Sprintf("stalled: lag %v, oldest pending %v aged %.2f s; want lag %d, oldest %d aged >= 0.2 s",
				lag(), oldest(), age(), records, start)
		}
		return ""
	})
	mu.Lock()
	hwm += 500 // the producer goes on; nothing more is pulled
	mu.Unlock()
	waitFor(t, func() string {
		if lag() != records+500 {
			return fmt.Sprintf("after 500 more records: lag %v, want %d", lag(), records+500)
		}
		return ""
	})

	close(st.release)
	waitFor(t, func() string {
		if lag() != 500 || age() != 0 || oldest() != start+records {
			return fmt.Sprintf("caught up: lag %v, oldest pending %v aged %v; want 500, %d, 0", lag(), oldest(), age(), start+records)
		}
		return ""
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeClaim: %v", err)
	}
	if n := testutil.CollectAndCount(m.lag) + testutil.CollectAndCount(m.oldestAge) + testutil.CollectAndCount(m.oldestOffset); n != 0 {
		t.Errorf("after the partition was revoked: %d series left, want 0", n)
	}
}

// waitFor polls check until it returns "" or 10 s pass.
func waitFor(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
