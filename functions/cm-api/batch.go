package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// saveItem is one purchase to save with the trace it was sent in.
type saveItem struct {
	p           purchase.Purchase
	traceparent string
}

// saveResult is the outcome of saving one purchase of a batch.
type saveResult struct {
	duplicate bool
	err       error
}

// batcher is group commit: concurrent saves are gathered into one insert
// command of up to maxBatch, which grows under load to what arrived while
// the previous one was written; a lone purchase waits at most maxDelay.
type batcher struct {
	store    store
	metrics  *shopMetrics
	maxBatch int
	maxDelay time.Duration
	timeout  time.Duration // one batch write
	reqs     chan *saveRequest
	wg       sync.WaitGroup

	// quit tells saves waiting to queue that Close has begun; mu keeps a
	// late save (past DRAIN_TIMEOUT) from sending on the closed reqs.
	quit      chan struct{}
	closeOnce sync.Once
	mu        sync.RWMutex
	closed    bool
}

// errBatcherClosed answers a save after Close: nothing was written, and
// the caller answers it as transient.
var errBatcherClosed = errors.New("store closing: not saved")

// saveRequest is one queued save; the writer calls then with its outcome.
type saveRequest struct {
	item saveItem
	then func(duplicate bool, err error)
}

// newBatcher starts writers goroutines that each write one batch at a time.
// Stop with Close after the last save returned.
func newBatcher(st store, m *shopMetrics, maxBatch int, maxDelay, timeout time.Duration, writers int) *batcher {
	b := &batcher{store: st, metrics: m, maxBatch: maxBatch, maxDelay: maxDelay, timeout: timeout,
		reqs: make(chan *saveRequest, 4*maxBatch), quit: make(chan struct{})}
	for range writers {
		b.wg.Go(b.write)
	}
	return b
}

// Save saves p and waits for its batch to be written or ctx to end (the
// write may still happen then: a retry is a duplicate).
func (b *batcher) Save(ctx context.Context, p purchase.Purchase) (bool, error) {
	done := make(chan saveResult, 1)
	b.SaveAsync(ctx, p, func(duplicate bool, err error) { done <- saveResult{duplicate, err} })
	select {
	case r := <-done:
		return r.duplicate, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// SaveAsync queues p with ctx's traceparent and returns; then gets the
// outcome from the writer (so it must not block), or at once when p could
// not be queued. Kafka mode saves this way, without a goroutine per record.
func (b *batcher) SaveAsync(ctx context.Context, p purchase.Purchase, then func(duplicate bool, err error)) {
	req := &saveRequest{item: saveItem{p, telemetry.TraceParent(ctx)}, then: then}
	if err := b.queue(ctx, req); err != nil {
		then(false, err)
	}
}

// queue hands req to the writers, unless ctx ends or Close has begun.
func (b *batcher) queue(ctx context.Context, req *saveRequest) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errBatcherClosed
	}
	select {
	case b.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errBatcherClosed
	}
}

// write collects a batch, writes it and answers each request.
func (b *batcher) write() {
	batch := make([]*saveRequest, 0, b.maxBatch)
	items := make([]saveItem, 0, b.maxBatch)
	for first := range b.reqs {
		batch = append(batch[:0], first)
		b.fill(&batch)
		items = items[:0]
		for _, r := range batch {
			items = append(items, r.item)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		ctx, span := startBatchSpan(ctx, items)
		results := b.store.SaveMany(ctx, items)
		endBatchSpan(span, results)
		cancel()
		b.metrics.batchSize.Observe(float64(len(items)))
		b.metrics.batchSeconds.Observe(time.Since(start).Seconds())
		for i, r := range batch {
			switch {
			case results[i].err != nil:
			case results[i].duplicate:
				b.metrics.events.WithLabelValues("duplicate").Inc()
			default:
				b.metrics.events.WithLabelValues("stored").Inc()
			}
			r.then(results[i].duplicate, results[i].err)
		}
	}
}

// fill adds queued requests to batch until it is full, maxDelay passes
// with the queue empty, or the queue is closed.
func (b *batcher) fill(batch *[]*saveRequest) {
	timer := time.NewTimer(b.maxDelay)
	defer timer.Stop()
	for len(*batch) < b.maxBatch {
		select {
		case r, ok := <-b.reqs:
			if !ok {
				return
			}
			*batch = append(*batch, r)
		default:
			select {
			case r, ok := <-b.reqs:
				if !ok {
					return
				}
				*batch = append(*batch, r)
			case <-timer.C:
				return
			}
		}
	}
}

// Close stops the writers once the queued requests are written. A save
// that comes later, or still waits to queue, gets errBatcherClosed.
func (b *batcher) Close() {
	b.closeOnce.Do(func() {
		close(b.quit)
		b.mu.Lock()
		b.closed = true
		close(b.reqs)
		b.mu.Unlock()
	})
	b.wg.Wait()
}

// startBatchSpan starts the span of one batch write, linked to the span of
// each purchase in it.
func startBatchSpan(ctx context.Context, items []saveItem) (context.Context, trace.Span) {
	tps := make([]string, len(items))
	for i, it := range items {
		tps[i] = it.traceparent
	}
	return telemetry.StartBatch(ctx, "insert purchases", tps, semconv.DBSystemNameMongoDB,
		semconv.DBCollectionName("purchases"), semconv.DBOperationName("insert"),
		semconv.DBOperationBatchSize(len(items)))
}

// endBatchSpan ends the batch span, failed when any write of it failed.
func endBatchSpan(span trace.Span, results []saveResult) {
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	var err error
	if failed > 0 {
		err = fmt.Errorf("%d of %d writes failed", failed, len(results))
	}
	telemetry.End(span, err)
}
