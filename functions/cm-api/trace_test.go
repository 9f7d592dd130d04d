package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/IBM/sarama/mocks"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/logging"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/telemetrytest"
)

const (
	producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan  = "00f067aa0ba902b7"
	producerTP    = "00-" + producerTrace + "-" + producerSpan + "-01"
)

// one returns the only ended span called name.
func one(t *testing.T, sr *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := telemetrytest.Named(sr.Ended(), name)
	if len(got) != 1 {
		t.Fatalf("got %d spans %q, want 1", len(got), name)
	}
	return got[0]
}

// checkConsumerAndBatch: the consumer span continues the producer's trace
// and links to it; the batch span links to the consumer span.
func checkConsumerAndBatch(t *testing.T, process, batch sdktrace.ReadOnlySpan) {
	t.Helper()
	if process.SpanKind() != trace.SpanKindConsumer || process.SpanContext().TraceID().String() != producerTrace ||
		process.Parent().SpanID().String() != producerSpan {
		t.Errorf("consumer span: got kind %v in %v under %v, want consumer under the producer %s",
			process.SpanKind(), process.SpanContext().TraceID(), process.Parent().SpanID(), producerTP)
	}
	if l := process.Links(); len(l) == 0 || l[0].SpanContext.SpanID().String() != producerSpan {
		t.Errorf("consumer links: got %v, want the producer first", l)
	}
	if l := batch.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != process.SpanContext().SpanID() {
		t.Errorf("batch links: got %v, want the consumer span", l)
	}
}

// tracedBatcher records spans and returns a batcher over a memory store,
// closed when the test ends.
func tracedBatcher(t *testing.T) (*tracetest.SpanRecorder, *batcher) {
	t.Helper()
	sr := telemetrytest.Record(t)
	b := newBatcher(&recordingStore{memStore: newMemStore()}, testMetrics(), 10, time.Millisecond, time.Second, 1)
	t.Cleanup(b.Close)
	return sr, b
}

// TestReceive_spans: an event a KafkaSource delivers is a consumer span in
// the producer's trace, linked to the delivery's server span too.
func TestReceive_spans(t *testing.T) {
	sr, b := tracedBatcher(t)
	h := serveWith(t, b.store, b)
	headers := binary("r-1", purchase.EventType)
	headers["Ce-Traceparent"] = producerTP
	headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if rec := apitest.Do(h, "POST", "/", data, headers); rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (%s)", rec.Code, rec.Body)
	}
	srv, process := one(t, sr, "POST /{$}"), one(t, sr, "process")
	checkConsumerAndBatch(t, process, one(t, sr, "insert purchases"))
	if l := process.Links(); len(l) != 2 || l[1].SpanContext.SpanID() != srv.SpanContext().SpanID() {
		t.Errorf("consumer links: got %v, want the producer and the server span", l)
	}
}

// TestHandleRecord_spans: a record is a consumer span in the trace of its
// ce_traceparent, with its partition and offset.
func TestHandleRecord_spans(t *testing.T) {
	sr, b := tracedBatcher(t)
	h := newRecordHandler(slog.New(slog.DiscardHandler), b, nil, "purchases-dlq", time.Second, 1, testMetrics())
	msg := purchaseRecord(t, 3, 42)
	msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: []byte(headerTraceParent), Value: []byte(producerTP)})
	if err := h.handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	process := one(t, sr, "process purchases")
	checkConsumerAndBatch(t, process, one(t, sr, "insert purchases"))
	want := map[string]string{"messaging.destination.partition.id": "3", "messaging.kafka.offset": "42",
		"messaging.message.id": "p-3-42", "messaging.operation.type": "process", "shop.transport": "kafka"}
	for _, kv := range process.Attributes() {
		if want[string(kv.Key)] == kv.Value.Emit() {
			delete(want, string(kv.Key))
		}
	}
	if len(want) != 0 {
		t.Errorf("consumer span: got %v, missing %v", process.Attributes(), want)
	}
}

// TestDeadLetter_span: dead-lettering a record is a producer span under its
// consumer span, with the partition it landed on.
func TestDeadLetter_span(t *testing.T) {
	sr := telemetrytest.Record(t)
	dlq := mocks.NewSyncProducer(t, nil)
	dlq.ExpectSendMessageAndSucceed()
	var logs bytes.Buffer
	log, err := logging.New(&logs, "info", "cm-api")
	if err != nil {
		t.Fatal(err)
	}
	h := newRecordHandler(log, testBatcher(t, newMemStore()), dlq, "purchases-dlq", time.Second, 1, testMetrics())
	msg := &sarama.ConsumerMessage{Topic: "purchases", Partition: 1, Offset: 5, Value: []byte("junk"),
		Headers: []*sarama.RecordHeader{{Key: []byte(headerTraceParent), Value: []byte(producerTP)}}}
	if err := h.handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	process, send := one(t, sr, "process purchases"), one(t, sr, "send purchases-dlq")
	if send.SpanKind() != trace.SpanKindProducer || send.Parent().SpanID() != process.SpanContext().SpanID() {
		t.Errorf("dead-letter span: got kind %v under %v, want producer under the consumer span", send.SpanKind(), send.Parent())
	}
	found := false
	for _, kv := range send.Attributes() {
		found = found || kv.Key == "messaging.destination.partition.id"
	}
	if !found {
		t.Errorf("dead-letter span: got %v, want the partition it landed on", send.Attributes())
	}
	if !strings.Contains(logs.String(), `"msg":"record dead-lettered"`) || !strings.Contains(logs.String(), `"trace_id":"`+producerTrace+`"`) {
		t.Errorf("log: got %s, want record dead-lettered with trace_id %s", logs.String(), producerTrace)
	}
}
