package telemetry

import (
	"net/http"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// recording says whether the installed tracer provider records spans. While
// it does not (no exporter, the default), requests skip otelhttp and spans
// are started without attributes: tracing that nobody asked for costs
// next to nothing, and a caller's traceparent still passes through.
var recording atomic.Bool

// SetTracerProvider installs tp as the process's tracer provider, with W3C
// tracecontext propagation; records says whether tp records spans. It
// returns the function that puts the previous ones back (for tests).
func SetTracerProvider(tp trace.TracerProvider, records bool) (restore func()) {
	prevTP, prevProp, prevRec := otel.GetTracerProvider(), otel.GetTextMapPropagator(), recording.Load()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	recording.Store(records)
	return func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		recording.Store(prevRec)
	}
}

// withRemoteParent returns r with the caller's trace context, when it sent
// one, so that spans (even no-op ones) continue it.
func withRemoteParent(r *http.Request) *http.Request {
	if r.Header.Get("traceparent") == "" {
		return r
	}
	return r.WithContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
}
