package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// recordingStore is a store over memStore that remembers batch sizes
// and can fail every write.
type recordingStore struct {
	*memStore
	mu      sync.Mutex
	batches []int
	fail    error
	delay   time.Duration
}

func (r *recordingStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	time.Sleep(r.delay) // a write takes time, so requests pile up meanwhile
	r.mu.Lock()
	r.batches = append(r.batches, len(items))
	fail := r.fail
	r.mu.Unlock()
	out := make([]saveResult, len(items))
	for i, it := range items {
		if fail != nil {
			out[i].err = fail
			continue
		}
		out[i].duplicate, out[i].err = r.Save(ctx, it.p)
	}
	return out
}

// written is how many purchases were given to SaveMany, failed or not.
func (r *recordingStore) written() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n += b
	}
	return n
}

func testPurchase(i int) purchase.Purchase {
	return purchase.Purchase{ID: fmt.Sprintf("p-%d", i), Username: "u", UserID: "1", Price: purchase.Money(i),
		Timestamp: time.Unix(int64(i), 0).UTC()}
}

func TestBatcherGroupsConcurrentSaves(t *testing.T) {
	t.Parallel()
	st := &recordingStore{memStore: newMemStore(), delay: 5 * time.Millisecond}
	b := newBatcher(st, testMetrics(), 50, time.Millisecond, time.Second, 1)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := b.Save(context.Background(), testPurchase(i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	b.Close()
	close(errs)
	for err := range errs {
		t.Errorf("Save: %v", err)
	}
	if got := st.count(); got != n {
		t.Errorf("stored: got %d, want %d", got, n)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	total, largest := 0, 0
	for _, size := range st.batches {
		total += size
		largest = max(largest, size)
	}
	if total != n || largest > 50 || len(st.batches) >= n/2 {
		t.Errorf("batches %v: got %d purchases in %d batches (largest %d), want %d in fewer than %d batches of at most 50",
			st.batches, total, len(st.batches), largest, n, n/2)
	}
}

func TestBatcherResultsPerPurchase(t *testing.T) {
	t.Parallel()
	st := &recordingStore{memStore: newMemStore()}
	b := newBatcher(st, testMetrics(), 10, time.Millisecond, time.Second, 2)
	defer b.Close()
	ctx := context.Background()
	p := testPurchase(1)
	if dup, err := b.Save(ctx, p); dup || err != nil {
		t.Fatalf("first save: got dup=%v err=%v, want a new purchase", dup, err)
	}
	if dup, err := b.Save(ctx, p); !dup || err != nil {
		t.Errorf("second save: got dup=%v err=%v, want a duplicate", dup, err)
	}
	other := p
	other.Price++
	if _, err := b.Save(ctx, other); !errors.Is(err, errConflict) {
		t.Errorf("same id, other price: got %v, want errConflict", err)
	}
	st.mu.Lock()
	st.fail = errors.New("store down")
	st.mu.Unlock()
	if _, err := b.Save(ctx, testPurchase(2)); err == nil {
		t.Error("store down: got no error, want one")
	}
}

func TestBatcherSaveGivesUpWithContext(t *testing.T) {
	t.Parallel()
	st := &recordingStore{memStore: newMemStore(), delay: 200 * time.Millisecond}
	b := newBatcher(st, testMetrics(), 10, time.Millisecond, time.Second, 1)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Save(ctx, testPurchase(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's deadline", err)
	}
}

// TestMongoStoreSaveMany runs group commit against the real wire protocol:
// new, duplicate and conflicting ids in one insert command.
func TestMongoStoreSaveMany(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	if _, err := saveOne(ctx, st, testPurchase(1)); err != nil {
		t.Fatal(err)
	}
	conflict := testPurchase(1)
	conflict.Price = 99
	ps := []purchase.Purchase{testPurchase(0), testPurchase(1), conflict, testPurchase(2), testPurchase(2)}
	items := make([]saveItem, len(ps))
	for i, p := range ps {
		items[i] = saveItem{p: p}
	}
	got := st.SaveMany(ctx, items)
	want := []string{"new", "duplicate", "conflict", "new", "duplicate"}
	for i, r := range got {
		outcome := "new"
		switch {
		case errors.Is(r.err, errConflict):
			outcome = "conflict"
		case r.err != nil:
			outcome = r.err.Error()
		case r.duplicate:
			outcome = "duplicate"
		}
		if outcome != want[i] {
			t.Errorf("purchase %d (%s): got %s, want %s", i, ps[i].ID, outcome, want[i])
		}
	}
}

// BenchmarkStoreBatch compares one insert per purchase with group commit on
// the store the tests use (FerretDB unless MONGODB_URI is set).
func BenchmarkStoreBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch_%d", size), func(b *testing.B) {
			st := newTestStore(b)
			ctx := context.Background()
			n := 0
			for b.Loop() {
				items := make([]saveItem, size)
				for i := range items {
					items[i] = saveItem{p: testPurchase(n)}
					n++
				}
				for _, r := range st.SaveMany(ctx, items) {
					if r.err != nil || r.duplicate {
						b.Fatal(r.err)
					}
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "purchases/s")
		})
	}
}

func testMetrics() *shopMetrics { return newShopMetrics(telemetry.NewMetrics("cm-api")) }

// TestBatcherSaveAfterCloseIsRefused: past DRAIN_TIMEOUT a straggling
// request may Save while or after the batcher closes; it gets an error to
// answer as transient, never a panic, and what was queued before is written.
func TestBatcherSaveAfterCloseIsRefused(t *testing.T) {
	t.Parallel()
	st := &recordingStore{memStore: newMemStore(), delay: 20 * time.Millisecond}
	b := newBatcher(st, testMetrics(), 2, time.Millisecond, time.Second, 1)
	const savers = 200
	errs := make(chan error, savers)
	var started sync.WaitGroup
	for i := range savers {
		started.Add(1)
		go func() {
			started.Done()
			_, err := b.Save(context.Background(), testPurchase(i))
			errs <- err
		}()
	}
	started.Wait()
	b.Close()
	saved, refused := 0, 0
	for range savers {
		switch err := <-errs; {
		case err == nil:
			saved++
		case errors.Is(err, errBatcherClosed):
			refused++
		default:
			t.Errorf("Save during Close: got %v, want nil or errBatcherClosed", err)
		}
	}
	if _, err := b.Save(context.Background(), testPurchase(savers)); !errors.Is(err, errBatcherClosed) {
		t.Errorf("Save after Close: got %v, want errBatcherClosed", err)
	}
	if got := st.count(); got != saved {
		t.Errorf("stored %d purchases, want the %d Saves that returned nil (%d refused)", got, saved, refused)
	}
}
