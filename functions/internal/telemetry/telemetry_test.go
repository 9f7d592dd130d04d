package telemetry_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

func TestChildTraceParent(t *testing.T) {
	t.Parallel()
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	child := telemetry.ChildTraceParent(parent)
	if telemetry.TraceID(child) != "4bf92f3577b34da6a3ce929d0e0e4736" || child == parent || !strings.HasSuffix(child, "-01") {
		t.Errorf("child of %s: got %s, want the same trace, a new span, the same flags", parent, child)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-XYZ-00f067aa0ba902b7-01"} {
		got := telemetry.ChildTraceParent(bad)
		if id := telemetry.TraceID(got); id == "" || strings.Contains(bad, id) {
			t.Errorf("from %q: got %s, want a new valid trace", bad, got)
		}
	}
}

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics("cm-test")
	m.ObserveRequest("POST /buy", "POST", 202, 3*time.Millisecond)
	m.ObserveRequest("", "GET", 404, time.Millisecond)
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
