package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// untraced are the probes' paths: their spans would drown the purchases'.
var untraced = map[string]bool{"/healthz": true, "/readyz": true}

// ServerSpans wraps h so that each request but a probe is a server span,
// named after its route pattern ("POST /buy"), that continues the caller's
// traceparent. While nothing records, it skips otelhttp and only passes the
// caller's trace context on. Metrics stay Prometheus: otelhttp's go to a
// no-op meter.
func ServerSpans(h http.Handler) http.Handler {
	traced := otelhttp.NewHandler(h, "http",
		otelhttp.WithFilter(func(r *http.Request) bool { return !untraced[r.URL.Path] }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Pattern
			}
			return r.Method
		}),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !recording.Load() {
			h.ServeHTTP(w, withRemoteParent(r))
			return
		}
		traced.ServeHTTP(w, r)
	})
}

// withRemoteParent returns r with the caller's trace context, when it sent
// one, so that spans (even no-op ones) continue it.
func withRemoteParent(r *http.Request) *http.Request {
	if r.Header.Get("traceparent") == "" {
		return r
	}
	return r.WithContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
}

// AnswerTraceParent sets the traceparent of the request's span on the
// response, so a caller can look its request up in the tracing back end.
func AnswerTraceParent(w http.ResponseWriter, r *http.Request) {
	if tp := TraceParent(r.Context()); tp != "" {
		w.Header().Set("traceparent", tp)
	}
}

// Transport wraps base (http.DefaultTransport when nil) so that each request
// is a client span whose traceparent travels in the request's headers. While
// nothing records, it skips otelhttp and only adds the caller's traceparent:
// otelhttp wraps the request's body to count it, and net/http then writes
// the headers and the body in two writes instead of one, which costs
// cm-server CPU on every send to an HTTP sink.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	traced := otelhttp.NewTransport(base, otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if recording.Load() {
			return traced.RoundTrip(r)
		}
		if !trace.SpanContextFromContext(r.Context()).IsValid() {
			return base.RoundTrip(r)
		}
		r = r.Clone(r.Context()) // a RoundTripper leaves its request as it was
		otel.GetTextMapPropagator().Inject(r.Context(), propagation.HeaderCarrier(r.Header))
		return base.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
