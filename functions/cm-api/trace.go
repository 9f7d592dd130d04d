package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// The Kafka binding's headers for the event id and its trace.
const (
	headerID          = "ce_id"
	headerTraceParent = "ce_traceparent"
)

// startEventSpan starts the consumer span of an event a KafkaSource
// delivered (Knative mode), in the trace of the span that sent it.
func startEventSpan(ctx context.Context, e event.Event) (context.Context, trace.Span) {
	return telemetry.StartProcess(ctx, telemetry.Message{ID: e.ID(), Partition: -1, Offset: -1,
		Via: "knative-kafkasource"}, eventTraceParent(e))
}

// startRecordSpan starts the consumer span of a record (Kafka mode), in the
// trace of the span that sent it (its ce_traceparent). It reads the headers
// only, so a record that is not a valid event has its span too.
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

// startDeadLetterSpan starts the producer span of copying msg to the
// dead-letter topic, a child of the record's consumer span in ctx.
func startDeadLetterSpan(ctx context.Context, msg *sarama.ConsumerMessage, topic string) trace.Span {
	_, span := telemetry.StartSend(ctx, telemetry.Message{Topic: topic, ID: header(msg, headerID),
		Partition: -1, Offset: -1, Via: "kafka"})
	return span
}

// sendDeadLetter sends out and adds where it landed to span.
func sendDeadLetter(p sarama.SyncProducer, out *sarama.ProducerMessage, span trace.Span) error {
	partition, offset, err := p.SendMessage(out)
	if err == nil {
		span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(partition))),
			semconv.MessagingKafkaOffset(int(offset)))
	}
	return err
}

// startBatchSpan starts the span of one group-commit write, linked to the
// span of each purchase in it.
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
