package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// untraced are the paths of probes: they would drown the purchases' traces
// and say nothing about them. Scrapes go to the metrics port, which is not
// traced at all.
var untraced = map[string]bool{"/healthz": true, "/readyz": true}

// ServerSpans wraps h so that each request (but probes) is a
// server span continuing the caller's traceparent, named after the route
// pattern that took it ("POST /buy"). Metrics stay Prometheus: otelhttp's
// own are sent to a no-op meter. While no provider records, it only passes
// the caller's trace context on.
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

// AnswerTraceParent sets the traceparent of the request's span on the
// response, so a caller can look its request up in the tracing back end.
func AnswerTraceParent(w http.ResponseWriter, r *http.Request) {
	if tp := TraceParent(r.Context()); tp != "" {
		w.Header().Set("traceparent", tp)
	}
}

// Transport wraps base (http.DefaultTransport when nil) so that each request
// is a client span whose traceparent travels in the request's headers.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base, otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}
