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

// TraceParentExtension is the CloudEvents distributed-tracing extension: the
// ce_traceparent Kafka header, the ce-traceparent HTTP header.
const TraceParentExtension = "traceparent"

// start starts a span named name() with the options opts(). While nothing
// records, it calls neither and returns ctx with its own span, as a no-op
// tracer would, without allocating.
func start(ctx context.Context, name func() string, opts func() []trace.SpanStartOption) (context.Context, trace.Span) {
	// The tracer is looked up each time, so a provider installed later counts.
	tracer := otel.Tracer("github.com/scalable-shop/scalable-shop/functions/internal/telemetry")
	if !recording.Load() {
		if span := trace.SpanFromContext(ctx); !span.IsRecording() {
			return ctx, span
		}
		return tracer.Start(ctx, name())
	}
	return tracer.Start(ctx, name(), opts()...)
}

// Message describes one Kafka record for a messaging span. Topic "",
// Partition -1 and Offset -1 mean unknown and are left out.
type Message struct {
	Topic     string
	ID        string // the CloudEvent id, which is the purchase id
	Partition int32
	Offset    int64
	Via       string // "kafka", "knative-kafkasink" or "knative-kafkasource"
}

func (m Message) attributes(op attribute.KeyValue, opName string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.MessagingSystemKafka, op, semconv.MessagingOperationName(opName),
		attribute.String("shop.transport", m.Via)}
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

// StartProcess starts the consumer span of storing m, sent with the
// traceparent producer. The span continues the producer's trace and links to
// its span, so one purchase is one trace from POST /buy to the store; ctx's
// span (a KafkaSource's delivery) is linked too when it is of another trace.
// Without a valid producer the span is a child of ctx's.
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

// StartBatch starts the span of one write of many purchases: a new root
// linked to each purchase's span (traceparents).
func StartBatch(ctx context.Context, name string, traceparents []string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
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
		return ""
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
