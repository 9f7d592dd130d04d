package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboard_latencyPanelsShowTraceExemplars: every panel on the HTTP
// latency histogram asks for exemplars, whose trace_id label Grafana links
// to the trace (docs/operations.md#tracing).
func TestDashboard_latencyPanelsShowTraceExemplars(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "scalable-shop", "dashboards", "scalable-shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr     string `json:"expr"`
				Exemplar bool   `json:"exemplar"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
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
