package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/internal/retry"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// Record headers: the Kafka binding's event id and trace, and the
// dead-letter headers that say why and where the record came from.
const (
	headerID          = "ce_id"
	headerTraceParent = "ce_traceparent"
	headerReason      = "dlq-reason"
	headerTopic       = "dlq-original-topic"
	headerPartition   = "dlq-original-partition"
	headerOffset      = "dlq-original-offset"
)

// recordHandler handles the claimed partitions' records: written
// concurrently, marked in offset order, at most cap(slots) at once over all
// partitions, so the work under way does not grow with the partitions.
type recordHandler struct {
	log      *slog.Logger
	saves    *batcher
	dlq      sarama.SyncProducer
	dlqTopic string
	timeout  time.Duration
	slots    chan struct{} // one per record being handled
	metrics  *shopMetrics
	offsetAt brokerOffset // the partitions' high-water marks; nil: the claims'
	lagEvery time.Duration
}

// newRecordHandler handles at most inflight records at once.
func newRecordHandler(log *slog.Logger, saves *batcher, dlq sarama.SyncProducer, dlqTopic string, timeout time.Duration,
	inflight int, m *shopMetrics) *recordHandler {
	return &recordHandler{log: log, saves: saves, dlq: dlq, dlqTopic: dlqTopic, timeout: timeout,
		slots: make(chan struct{}, inflight), metrics: m, lagEvery: lagEvery}
}

func (h *recordHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *recordHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim handles the partition's records concurrently, so that their
// writes share batches, and marks a record once it and all before it are
// stored or dead-lettered; the rest are delivered again after the session.
func (h *recordHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	watch := newPartitionWatch(claim, h.metrics)
	stopWatch := make(chan struct{})
	go watch.watch(claim, h.offsetAt, h.lagEvery, stopWatch)
	defer watch.end()
	defer close(stopWatch)
	inflight := make(chan pendingRecord, cap(h.slots))
	marked := make(chan struct{})
	go func() {
		defer close(marked)
		for pr := range inflight {
			if err := <-pr.done; err != nil {
				// ctx ended first: mark nothing more, but wait for the
				// others so that no goroutine outlives the claim.
				for rest := range inflight {
					<-rest.done
				}
				return
			}
			sess.MarkMessage(pr.msg, "")
			watch.mark(pr.msg.Offset)
		}
	}()
	defer func() {
		close(inflight)
		<-marked
	}()
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			select {
			case h.slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			watch.pull(msg.Offset, time.Now())
			pr := pendingRecord{msg: msg, done: make(chan error, 1)}
			inflight <- pr
			h.start(ctx, msg, func(err error) {
				<-h.slots
				pr.done <- err
			})
		case <-ctx.Done():
			return nil
		}
	}
}

// pendingRecord is a record being handled; done says how it ended.
type pendingRecord struct {
	msg  *sarama.ConsumerMessage
	done chan error
}

// start handles msg and calls finish once with what handle would return. A
// valid purchase waits for its write without a goroutine (SaveAsync); an
// invalid record or a failed save takes handle's path on a goroutine.
func (h *recordHandler) start(ctx context.Context, msg *sarama.ConsumerMessage, finish func(error)) {
	slow := func() { go func() { finish(h.handle(ctx, msg)) }() }
	sctx, span := startRecordSpan(ctx, msg)
	p, err := decodeRecord(sctx, msg)
	if err != nil {
		telemetry.End(span, err)
		slow()
		return
	}
	h.saves.SaveAsync(sctx, p, func(dup bool, err error) {
		telemetry.End(span, err)
		if err != nil {
			slow()
			return
		}
		if h.log.Enabled(sctx, slog.LevelDebug) {
			h.log.DebugContext(sctx, "purchase stored", "purchase_id", p.ID, "duplicate", dup, "partition", msg.Partition,
				"offset", msg.Offset)
		}
		finish(nil)
	})
}

// handle stores one record, or dead-letters it when it can never be
// stored (not a valid purchase, a conflicting id, refused for good); any
// other error is retried in place. It fails only when ctx ended first.
func (h *recordHandler) handle(ctx context.Context, msg *sarama.ConsumerMessage) (err error) {
	ctx, span := startRecordSpan(ctx, msg)
	defer func() { telemetry.End(span, err) }()
	p, err := decodeRecord(ctx, msg)
	if err != nil {
		return h.retry(ctx, msg, func(ctx context.Context) error { return h.deadLetter(ctx, msg, err, "dead_lettered") })
	}
	return h.retry(ctx, msg, func(ctx context.Context) error {
		dup, err := h.saves.Save(ctx, p)
		switch {
		case errors.Is(err, errConflict):
			return h.deadLetter(ctx, msg, err, "dead_lettered")
		case errors.Is(err, errRefused):
			return h.deadLetter(ctx, msg, err, "refused")
		}
		if err == nil {
			h.log.DebugContext(ctx, "purchase stored", "purchase_id", p.ID, "duplicate", dup, "partition", msg.Partition,
				"offset", msg.Offset)
		}
		return err
	})
}

// storeBackoff is how a record that could not be stored is retried in place.
var storeBackoff = retry.Policy{First: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}

// retry runs op until it succeeds or ctx ends. An attempt has its own
// timeout and is not cut short by ctx: a write under way at shutdown
// finishes rather than leave its outcome unknown.
func (h *recordHandler) retry(ctx context.Context, msg *sarama.ConsumerMessage, op func(context.Context) error) error {
	return retry.Forever(ctx, storeBackoff, func() error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
		defer cancel()
		return op(actx)
	}, func(attempt int, err error, _ time.Duration) {
		h.log.Warn("record not handled, retrying", "attempt", attempt, "partition", msg.Partition,
			"offset", msg.Offset, "err", err)
	})
}

// deadLetter copies the record to the dead-letter topic with the reason,
// in a producer span under the record's, and counts it under result.
func (h *recordHandler) deadLetter(ctx context.Context, msg *sarama.ConsumerMessage, reason error, result string) (err error) {
	_, span := telemetry.StartSend(ctx, telemetry.Message{Topic: h.dlqTopic, ID: header(msg, headerID),
		Partition: -1, Offset: -1, Via: "kafka"})
	defer func() { telemetry.End(span, err) }()
	headers := make([]sarama.RecordHeader, 0, len(msg.Headers)+4)
	for _, hd := range msg.Headers {
		headers = append(headers, *hd)
	}
	headers = append(headers,
		sarama.RecordHeader{Key: []byte(headerReason), Value: []byte(reason.Error())},
		sarama.RecordHeader{Key: []byte(headerTopic), Value: []byte(msg.Topic)},
		sarama.RecordHeader{Key: []byte(headerPartition), Value: fmt.Appendf(nil, "%d", msg.Partition)},
		sarama.RecordHeader{Key: []byte(headerOffset), Value: fmt.Appendf(nil, "%d", msg.Offset)},
	)
	out := &sarama.ProducerMessage{Topic: h.dlqTopic, Headers: headers}
	if msg.Key != nil {
		out.Key = sarama.ByteEncoder(msg.Key)
	}
	if msg.Value != nil {
		out.Value = sarama.ByteEncoder(msg.Value)
	}
	partition, offset, err := h.dlq.SendMessage(out)
	if err != nil {
		return fmt.Errorf("dead-letter record %s/%d/%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
	}
	span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(partition))),
		semconv.MessagingKafkaOffset(int(offset)))
	h.metrics.events.WithLabelValues(result).Inc()
	h.log.WarnContext(ctx, "record dead-lettered", "partition", msg.Partition, "offset", msg.Offset, "reason", reason.Error())
	return nil
}

// startRecordSpan starts a record's consumer span in the trace of its
// ce_traceparent, from the headers alone, so an invalid record has one too.
func startRecordSpan(ctx context.Context, msg *sarama.ConsumerMessage) (context.Context, trace.Span) {
	return telemetry.StartProcess(ctx, telemetry.Message{Topic: msg.Topic, ID: header(msg, headerID),
		Partition: msg.Partition, Offset: msg.Offset, Via: "kafka"}, header(msg, headerTraceParent))
}

// header is the value of the record's header key, "" when absent.
func header(msg *sarama.ConsumerMessage, key string) string {
	for _, h := range msg.Headers {
		if h != nil && string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}
