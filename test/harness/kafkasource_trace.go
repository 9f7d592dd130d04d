package harness

import (
	"context"
	"strings"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// The dispatcher's trace context (eventing-kafka-broker knative-v1.23.0,
// data-plane/core/.../observability/tracing/kafka/ConsumerTracer.java and
// TracingProvider.java): its consumer span continues the trace of the
// record's traceparent header through the W3C propagator, with a
// parent-based sampler; each HTTP request it sends carries a traceparent of
// its own client span. A record without a traceparent is delivered without
// one: no trace is started for it (measured on the real dispatcher by
// TestKafkaSourceStandIn_deliversPartitionOffsetAndTraceparent under make
// test-dataplane).

// traceParent is the trace a record's delivery belongs to.
type traceParent struct{ traceID, flags string }

type traceparentKey struct{}

func withTraceparent(ctx context.Context, tp traceParent) context.Context {
	return context.WithValue(ctx, traceparentKey{}, tp)
}

// requestTraceparent is the traceparent of a new client span in ctx's
// trace, "" when ctx has none.
func requestTraceparent(ctx context.Context) string {
	tp, ok := ctx.Value(traceparentKey{}).(traceParent)
	if !ok {
		return ""
	}
	return "00-" + tp.traceID + "-" + stack.NewSpanID() + "-" + tp.flags
}

// recordTrace is the trace of the record's traceparent header; false when
// it has none (or an invalid one).
func recordTrace(msg *sarama.ConsumerMessage) (traceParent, bool) {
	for _, h := range msg.Headers {
		if strings.ToLower(string(h.Key)) != "traceparent" {
			continue
		}
		parts := strings.Split(string(h.Value), "-")
		if len(parts) == 4 && parts[0] == "00" && len(parts[1]) == 32 && len(parts[2]) == 16 && len(parts[3]) == 2 {
			return traceParent{traceID: parts[1], flags: parts[3]}, true
		}
	}
	return traceParent{}, false
}
