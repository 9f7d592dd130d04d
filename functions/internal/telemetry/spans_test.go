package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
	"github.com/scalable-shop/scalable-shop/functions/telemetrytest"
)

const producerTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// attrs returns a span's attributes as strings.
func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func TestStartSendAndProcess_oneTraceLinked(t *testing.T) {
	sr := telemetrytest.Record(t)
	ctx, send := telemetry.StartSend(context.Background(), telemetry.Message{Topic: "purchases", ID: "p1", Partition: -1, Offset: -1, Via: "kafka"})
	tp := telemetry.TraceParent(ctx)
	send.End()
	_, process := telemetry.StartProcess(context.Background(), telemetry.Message{Topic: "purchases", ID: "p1", Partition: 2, Offset: 7, Via: "kafka"}, tp)
	process.End()

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	s, p := spans[0], spans[1]
	if s.Name() != "send purchases" || s.SpanKind() != trace.SpanKindProducer || p.Name() != "process purchases" || p.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("got %s (%v), %s (%v); want send purchases (producer), process purchases (consumer)", s.Name(), s.SpanKind(), p.Name(), p.SpanKind())
	}
	if p.Parent().SpanID() != s.SpanContext().SpanID() || p.SpanContext().TraceID() != s.SpanContext().TraceID() {
		t.Errorf("process: got parent %v, want the send span %v", p.Parent(), s.SpanContext())
	}
	if len(p.Links()) != 1 || p.Links()[0].SpanContext.SpanID() != s.SpanContext().SpanID() {
		t.Errorf("process links: got %v, want the send span", p.Links())
	}
	for span, want := range map[sdktrace.ReadOnlySpan]map[string]string{
		s: {"messaging.system": "kafka", "messaging.destination.name": "purchases", "messaging.message.id": "p1",
			"messaging.operation.type": "send", "shop.transport": "kafka"},
		p: {"messaging.system": "kafka", "messaging.destination.partition.id": "2", "messaging.kafka.offset": "7",
			"messaging.operation.type": "process", "messaging.message.id": "p1"},
	} {
		got := attrs(span)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s: got %q, want %q", span.Name(), k, got[k], v)
			}
		}
	}
	if _, ok := attrs(s)["messaging.destination.partition.id"]; ok {
		t.Errorf("send: got a partition, want none when it is not known")
	}
}

func TestStartProcess_linksTheDeliveringTraceToo(t *testing.T) {
	sr := telemetrytest.Record(t)
	ctx, delivery := telemetry.StartSend(context.Background(), telemetry.Message{Partition: -1, Offset: -1})
	_, p := telemetry.StartProcess(ctx, telemetry.Message{Partition: -1, Offset: -1}, producerTP)
	p.End()
	delivery.End()
	got := telemetrytest.Named(sr.Ended(), "process")
	if len(got) != 1 || got[0].SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || len(got[0].Links()) != 2 {
		t.Fatalf("got %v, want one process span in the producer's trace linked to the producer and the delivery", got)
	}
}

func TestStartProcess_withoutProducerIsAChild(t *testing.T) {
	sr := telemetrytest.Record(t)
	ctx, parent := telemetry.StartSend(context.Background(), telemetry.Message{Partition: -1, Offset: -1})
	_, p := telemetry.StartProcess(ctx, telemetry.Message{Partition: -1, Offset: -1}, "garbage")
	p.End()
	parent.End()
	got := telemetrytest.Named(sr.Ended(), "process")
	if len(got) != 1 || got[0].Parent().SpanID() != parent.SpanContext().SpanID() || len(got[0].Links()) != 0 {
		t.Fatalf("got %v, want a child of ctx's span without links", got)
	}
}

func TestStartBatch_rootLinkedToEachPurchase(t *testing.T) {
	sr := telemetrytest.Record(t)
	other := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	_, b := telemetry.StartBatch(context.Background(), "insert purchases", []string{producerTP, "", other}, attribute.Int("n", 3))
	telemetry.End(b, nil)
	got := telemetrytest.Named(sr.Ended(), "insert purchases")
	if len(got) != 1 || got[0].Parent().IsValid() || len(got[0].Links()) != 2 {
		t.Fatalf("got %v, want one root span with 2 links", got)
	}
	if got[0].Links()[1].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("second link: got %v, want trace 0af7…", got[0].Links()[1].SpanContext)
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := trace.ContextWithSpanContext(context.Background(), telemetry.SpanContext(producerTP))
	if got := telemetry.TraceParent(ctx); got != producerTP {
		t.Errorf("got %q, want %q", got, producerTP)
	}
	if got := telemetry.TraceParent(context.Background()); got != "" {
		t.Errorf("no span: got %q, want none", got)
	}
}

// TestSpans_withoutRecordingPassTheCallersTraceOn: while nothing records,
// no span is started, and what a no-op tracer would give still holds: the
// caller's trace context passes on to the event, and without one there is
// none.
func TestSpans_withoutRecordingPassTheCallersTraceOn(t *testing.T) {
	t.Cleanup(telemetry.SetTracerProvider(noop.NewTracerProvider(), false))
	m := telemetry.Message{Topic: "purchases", ID: "p1", Partition: -1, Offset: -1, Via: "kafka"}
	caller := trace.ContextWithRemoteSpanContext(context.Background(), telemetry.SpanContext(producerTP))
	for name, start := range map[string]func(context.Context) (context.Context, trace.Span){
		"send":    func(ctx context.Context) (context.Context, trace.Span) { return telemetry.StartSend(ctx, m) },
		"process": func(ctx context.Context) (context.Context, trace.Span) { return telemetry.StartProcess(ctx, m, "") },
		"batch": func(ctx context.Context) (context.Context, trace.Span) {
			return telemetry.StartBatch(ctx, "insert", []string{producerTP})
		},
	} {
		ctx, span := start(caller)
		if span.IsRecording() {
			t.Errorf("%s: span records", name)
		}
		if got := telemetry.TraceParent(ctx); got != producerTP {
			t.Errorf("%s with a caller's trace: traceparent %q, want %q", name, got, producerTP)
		}
		telemetry.End(span, nil)
		if ctx, _ := start(context.Background()); telemetry.TraceParent(ctx) != "" {
			t.Errorf("%s without one: traceparent %q, want none", name, telemetry.TraceParent(ctx))
		}
	}
	ctx, _ := telemetry.StartProcess(context.Background(), m, producerTP)
	if got := telemetry.TraceParent(ctx); got != producerTP {
		t.Errorf("process of a record sent with a trace: traceparent %q, want %q", got, producerTP)
	}
}
