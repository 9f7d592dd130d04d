package main

import (
	"context"
	"errors"
	"sync"
	"time"

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

// batcher is group commit: concurrent Saves (HTTP requests, consumed
// records) are gathered into one insert command, bounded by count and a short
// delay, and each caller returns when its batch is written. Under load a
// batch grows to
// what arrived while the previous one was written. A lone purchase waits at
// most maxDelay for company.
type batcher struct {
	store    store
	metrics  *shopMetrics
	maxBatch int
	maxDelay time.Duration
	timeout  time.Duration // one batch write
	reqs     chan *saveRequest
	wg       sync.WaitGroup

	// quit tells Saves still waiting to queue that Close has begun; mu
	// keeps a Save from sending on reqs once Close closed it (a request
	// past DRAIN_TIMEOUT may still call Save).
	quit      chan struct{}
	closeOnce sync.Once
	mu        sync.RWMutex
	closed    bool
}

// errBatcherClosed answers a Save that came after Close: nothing was
// written, and the caller answers it as transient (the event is retried).
var errBatcherClosed = errors.New("store closing: not saved")

// saveRequest is one queued save. The writer answers it on done, or, for
// SaveAsync, by calling then.
type saveRequest struct {
	item saveItem
	done chan saveResult
	then func(duplicate bool, err error)
}

// newBatcher starts writers goroutines that each write one batch at a time.
// Stop with Close after the last Save returned.
func newBatcher(st store, m *shopMetrics, maxBatch int, maxDelay, timeout time.Duration, writers int) *batcher {
	b := &batcher{store: st, metrics: m, maxBatch: maxBatch, maxDelay: maxDelay, timeout: timeout,
		reqs: make(chan *saveRequest, 4*maxBatch), quit: make(chan struct{})}
	for range writers {
		b.wg.Go(b.write)
	}
	return b
}

// Save queues p, with the traceparent of ctx's span, and waits for its batch
// to be written or ctx to end. When
// ctx ends first the write may still happen; that is harmless, because the
// caller has not acknowledged anything and a retry is a duplicate.
func (b *batcher) Save(ctx context.Context, p purchase.Purchase) (bool, error) {
	req := &saveRequest{item: saveItem{p, telemetry.TraceParent(ctx)}, done: make(chan saveResult, 1)}
	if err := b.queue(ctx, req); err != nil {
		return false, err
	}
	select {
	case r := <-req.done:
		return r.duplicate, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// SaveAsync queues p, with the traceparent of ctx's span, and returns; then
// is called with the outcome once its batch is written, by the writer (so
// it must not block), or at once when p could not be queued (ctx ended or
// Close began). Kafka mode saves this way, without a goroutine per record.
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

// write collects a batch (the first request, then whatever arrives within
// maxDelay, up to maxBatch), writes it and answers each request.
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
			if r.then != nil {
				r.then(results[i].duplicate, results[i].err)
			} else {
				r.done <- results[i]
			}
		}
	}
}

// fill adds queued requests to batch until it is full, the queue is empty
// after maxDelay, or the queue is closed.
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

// Close stops the writers once the queued requests are written. A Save
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
