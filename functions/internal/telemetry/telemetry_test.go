package telemetry_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

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
