package manifest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	dashboardMetric = regexp.MustCompile(`\b(shop_[a-z_]+?)(_bucket|_count|_sum)?\b`)
	exportedMetric  = regexp.MustCompile(`"(shop_[a-z_]+)"`)
)

// TestDashboard_metricsExist checks that every shop_* metric the Grafana
// dashboard queries is one the functions register, so a renamed metric
// cannot leave an empty panel behind.
func TestDashboard_metricsExist(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	dash := readDashboard(t)
	exported := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "functions"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range exportedMetric.FindAllStringSubmatch(string(src), -1) {
			exported[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dash.Panels) == 0 || len(exported) == 0 {
		t.Fatalf("got %d panels and %d exported metrics, want both", len(dash.Panels), len(exported))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			for _, m := range dashboardMetric.FindAllStringSubmatch(target.Expr, -1) {
				if !exported[m[1]] {
					t.Errorf("panel %q queries %s, which no function exports", p.Title, m[1])
				}
			}
		}
	}
}

// dashboard is what the tests read of the Grafana dashboard.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr     string `json:"expr"`
			Exemplar bool   `json:"exemplar"`
		} `json:"targets"`
	} `json:"panels"`
}

// readDashboard reads the chart's Grafana dashboard.
func readDashboard(t testing.TB) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "scalable-shop", "dashboards", "scalable-shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return dash
}
