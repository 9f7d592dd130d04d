package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// TestTransport_withoutRecordingPassesTheCallersTraceOn: while nothing
// records, a request goes out with the caller's traceparent (otelhttp's
// no-op span carries the caller's span context), without changing the
// caller's request.
func TestTransport_withoutRecordingPassesTheCallersTraceOn(t *testing.T) {
	t.Cleanup(telemetry.SetTracerProvider(noop.NewTracerProvider(), false))
	var seen *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return &http.Response{StatusCode: http.StatusAccepted, Body: http.NoBody, Request: r}, nil
	})
	client := telemetry.Transport(base)

	caller := trace.ContextWithRemoteSpanContext(context.Background(), telemetry.SpanContext(producerTP))
	req := httptest.NewRequestWithContext(caller, http.MethodPost, "http://sink.example/", nil)
	if _, err := client.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got := seen.Header.Get("traceparent"); got != producerTP {
		t.Errorf("with a caller's trace: traceparent %q, want %q", got, producerTP)
	}
	if got := req.Header.Get("traceparent"); got != "" {
		t.Errorf("the caller's request was changed: traceparent %q", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
