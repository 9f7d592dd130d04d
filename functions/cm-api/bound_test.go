package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestConsumeClaimThroughBatcherBoundsRecordsInFlight holds the memory bound
// on the path that ships: the consumer's handler over the group commit
// (SaveAsync, no goroutine per record) configured as start configures it
// (KAFKA_INFLIGHT, BATCH_MAX_SIZE, BATCH_MAX_DELAY, BATCH_WRITERS at their
// defaults), on three partitions with more records than the bound, and a
// store whose every write waits until the test lets it through. The bubble
// (testing/synctest) shows when every goroutine is blocked: only then are the
// records counted, so no count is taken while the consumer could still go
// on. At each such point the records handed to the group commit (in writes
// or queued) are at most KAFKA_INFLIGHT and those taken from the partitions
// and not stored at most one more per partition (pulled, waiting for a slot,
// not decoded); at the first, exactly so: the consumer ran up to the bound.
// (A bound broken by freeing a record's slot once it is queued, not once it
// is written, hands every record to the group commit at once.)
// In the end every record is stored and marked, in offset order.
func TestConsumeClaimThroughBatcherBoundsRecordsInFlight(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	const partitions = 3
	perPartition := int64(cfg.InFlight + 1) // each alone past the bound
	total := int(partitions * perPartition)
	synctest.Test(t, func(t *testing.T) {
		st := &gatedStore{memStore: newMemStore(), writes: make(chan chan struct{})}
		b := newBatcher(st, testMetrics(), cfg.BatchSize, cfg.BatchDelay, cfg.MongoTimeout, cfg.BatchWriters)
		defer b.Close()
		h := newRecordHandler(slog.New(slog.DiscardHandler), b, nil, "purchases-dlq", cfg.MongoTimeout, cfg.InFlight, testMetrics())
		sess, claims, wait := consumeClaims(t, h, partitions, perPartition)
		// A failure is reported once and the writes go on: the bubble ends
		// only when every goroutine in it has.
		for first, failed := true, false; st.count() < total; first = false {
			gate := <-st.writes // a write has begun
			synctest.Wait()     // and nothing else can move
			handed := int(st.held.Load()) + len(b.reqs)
			pulled := total
			for _, c := range claims {
				pulled -= len(c.msgs)
			}
			taken := pulled - st.count()
			if !failed && (handed > cfg.InFlight || taken > cfg.InFlight+partitions) {
				failed = true
				t.Errorf("records handed to the group commit: got %d, want at most KAFKA_INFLIGHT=%d; "+
					"taken and not stored: got %d, want at most %d", handed, cfg.InFlight, taken, cfg.InFlight+partitions)
			}
			if !failed && first && (handed != cfg.InFlight || taken != cfg.InFlight+partitions) {
				failed = true
				t.Errorf("with every write held: got %d handed to the group commit and %d taken, want %d and %d",
					handed, taken, cfg.InFlight, cfg.InFlight+partitions)
			}
			close(gate)
			synctest.Wait()
		}
		wait()
		checkMarkedInOrder(t, sess, partitions, perPartition)
	})
}

// gatedStore is a batchStore whose every write sends a gate on writes and
// waits until the test closes it; held counts the purchases of the writes
// under way.
type gatedStore struct {
	*memStore
	writes chan chan struct{}
	held   atomic.Int64
}

func (s *gatedStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	s.held.Add(int64(len(items)))
	defer s.held.Add(-int64(len(items)))
	gate := make(chan struct{})
	s.writes <- gate
	<-gate
	results := make([]saveResult, len(items))
	for i, it := range items {
		results[i].duplicate, results[i].err = s.memStore.Save(ctx, it.p)
	}
	return results
}
