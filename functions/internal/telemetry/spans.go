package telemetry

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// attributeKV is one span or resource attribute.
type attributeKV = attribute.KeyValue

// TraceParentExtension is the CloudEvents distributed-tracing extension; the
// Kafka binding carries it as the ce_traceparent header, a KafkaSink maps
// the ce-traceparent HTTP header to it.
const TraceParentExtension = "traceparent"

// scope names the instrumentation of the shop's own spans.
const scope = "github.com/scalable-shop/scalable-shop/functions/internal/telemetry"

// tracer is looked up at each span so a provider installed later (a test's
// recorder, StartTracing) takes effect.
func tracer() trace.Tracer { return otel.Tracer(scope) }

// start starts a span named name() with the options opts makes. While no
// provider records, neither is made and no span is started: ctx's own span
// is returned as it is, which is what a no-op tracer's Start returns in a
// new context (the caller's trace context, when it sent one, still passes
// through), without the context, the name or the span to allocate.
func start(ctx context.Context, name func() string, opts func() []trace.SpanStartOption) (context.Context, trace.Span) {
	if !recording.Load() {
		if span := trace.SpanFromContext(ctx); !span.IsRecording() {
			return ctx, span
		}
		return tracer().Start(ctx, name())
	}
	return tracer().Start(ctx, name(), opts()...)
}

// TransportAttr says how a message reached or left Kafka: "kafka" (the
// function's own client) or through Knative ("knative-kafkasink",
// "knative-kafkasource"). The messaging system is Kafka either way.
func TransportAttr(via string) attributeKV { return attribute.String("shop.transport", via) }

// Message describes one Kafka record for a messaging span. Zero values
// (Topic "", Partition or Offset -1) are left out.
type Message struct {
	Topic     string
	ID        string // the CloudEvent id, which is the purchase id
	Partition int32
	Offset    int64
	Via       string // see TransportAttr
}

func (m Message) attributes(op attribute.KeyValue, opName string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.MessagingSystemKafka, op, semconv.MessagingOperationName(opName), TransportAttr(m.Via)}
	if m.Topic != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(m.Topic))
	}
	if m.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	}
	if m.Partition >= 0 {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(int(m.Partition))))
	}
	if m.Offset >= 0 {
		attrs = append(attrs, semconv.MessagingKafkaOffset(int(m.Offset)))
	}
	return attrs
}

// spanName follows the messaging conventions: "{operation} {destination}".
func (m Message) spanName(op string) string {
	if m.Topic == "" {
		return op
	}
	return op + " " + m.Topic
}

// StartSend starts the producer span of sending m.
func StartSend(ctx context.Context, m Message) (context.Context, trace.Span) {
	return start(ctx, func() string { return m.spanName("send") }, func() []trace.SpanStartOption {
		return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(m.attributes(semconv.MessagingOperationTypeSend, "send")...)}
	})
}

// StartProcess starts the consumer span of storing m. producer is the
// traceparent m was sent with (its ce_traceparent): the span continues that
// trace and links to the producer span, so one purchase is one trace from
// POST /buy to the store. The span ctx already has (an HTTP server span
// when a KafkaSource delivers) is linked too when it belongs to another
// trace. Without a valid producer context the span is a child of ctx's.
func StartProcess(ctx context.Context, m Message, producer string) (context.Context, trace.Span) {
	pc, here := SpanContext(producer), trace.SpanContextFromContext(ctx)
	if pc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, pc)
	}
	return start(ctx, func() string { return m.spanName("process") }, func() []trace.SpanStartOption {
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(m.attributes(semconv.MessagingOperationTypeProcess, "process")...)}
		if pc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: pc}))
			if here.IsValid() && here.TraceID() != pc.TraceID() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: here}))
			}
		}
		return opts
	})
}

// StartBatch starts the span of one group-commit write, a new root linked
// to the span of each purchase in it (their traceparents): one write serves
// many traces.
func StartBatch(ctx context.Context, name string, traceparents []string, attrs ...attributeKV) (context.Context, trace.Span) {
	return start(ctx, func() string { return name }, func() []trace.SpanStartOption {
		links := make([]trace.Link, 0, len(traceparents))
		for _, tp := range traceparents {
			if sc := SpanContext(tp); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
		return []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithLinks(links...), trace.WithAttributes(attrs...)}
	})
}

// End ends span, marking it failed with err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// TraceParent returns the W3C traceparent of ctx's span, "" when it has none.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "" // what Inject writes then: nothing
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// SpanContext parses a W3C traceparent; the result is invalid when tp is.
func SpanContext(tp string) trace.SpanContext {
	if tp == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}
