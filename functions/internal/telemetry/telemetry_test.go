package telemetry_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics("cm-test")
	m.ObserveRequest(context.Background(), "POST /buy", "POST", 202, 3*time.Millisecond)
	m.ObserveRequest(context.Background(), "", "GET", 404, time.Millisecond)
	m.Counter("shop_events_total", "Events by result.", "result").WithLabelValues("acked").Add(2)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`shop_http_requests_total{code="202",function="cm-test",method="POST",route="POST /buy"} 1`,
		`route="unmatched"`, `shop_events_total{function="cm-test",result="acked"} 2`, "go_goroutines", "shop_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics: want %q in\n%s", want, body)
		}
	}
}

// TestMetricsExemplars: a request in a sampled trace leaves its trace id as
// the latency's exemplar, shown to an OpenMetrics scraper; an unsampled one
// leaves none.
func TestMetricsExemplars(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics("cm-test")
	sampled := trace.ContextWithSpanContext(context.Background(), telemetry.SpanContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	unsampled := trace.ContextWithSpanContext(context.Background(), telemetry.SpanContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"))
	m.ObserveRequest(sampled, "POST /buy", "POST", 202, 3*time.Millisecond)
	m.ObserveRequest(unsampled, "GET /x", "GET", 200, 3*time.Millisecond)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	m.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	if n := strings.Count(body, `# {trace_id="`); n != 1 || !strings.Contains(body, `# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}`) {
		t.Errorf("/metrics (OpenMetrics): got %d exemplars, want one with the sampled trace id\n%s", n, body)
	}
}
