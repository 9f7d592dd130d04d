package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// TraceParentExtension is the CloudEvents distributed-tracing extension; the
// Kafka binding carries it as the ce_traceparent header.
const TraceParentExtension = "traceparent"

// ChildTraceParent continues the W3C trace context in incoming with a new
// span id, or starts a new sampled trace when incoming is absent or invalid.
func ChildTraceParent(incoming string) string {
	traceID, flags := "", "01"
	if parts := strings.Split(incoming, "-"); len(parts) == 4 && parts[0] == "00" &&
		isHex(parts[1], 32) && isHex(parts[2], 16) && isHex(parts[3], 2) && parts[1] != strings.Repeat("0", 32) {
		traceID, flags = parts[1], parts[3]
	}
	if traceID == "" {
		traceID = randomHex(16)
	}
	return "00-" + traceID + "-" + randomHex(8) + "-" + flags
}

// TraceID returns the trace id of a traceparent, or "" when it has none.
func TraceID(traceparent string) string {
	if parts := strings.Split(traceparent, "-"); len(parts) == 4 && isHex(parts[1], 32) {
		return parts[1]
	}
	return ""
}

type traceKey struct{}

// WithTraceParent returns ctx carrying traceparent.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	return context.WithValue(ctx, traceKey{}, traceparent)
}

// TraceParentFrom returns the traceparent ctx carries, or "".
func TraceParentFrom(ctx context.Context) string {
	tp, _ := ctx.Value(traceKey{}).(string)
	return tp
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
