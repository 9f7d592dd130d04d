package manifest

import (
	"strings"
	"testing"
)

// TestDashboard_latencyPanelsShowTraceExemplars: every panel on the HTTP
// latency histogram asks for exemplars, whose trace_id label Grafana links
// to the trace (docs/operations.md#tracing).
func TestDashboard_latencyPanelsShowTraceExemplars(t *testing.T) {
	t.Parallel()
	dash := readDashboard(t)
	latency := 0
	for _, p := range dash.Panels {
		uses, shows := false, false
		for _, target := range p.Targets {
			if strings.Contains(target.Expr, "shop_http_request_duration_seconds") {
				uses = true
				shows = shows || target.Exemplar
			}
		}
		if uses {
			latency++
			if !shows {
				t.Errorf("panel %q: got no target with exemplars, want one", p.Title)
			}
		}
	}
	if latency == 0 {
		t.Error("got no panel on shop_http_request_duration_seconds, want the latency panels")
	}
}
