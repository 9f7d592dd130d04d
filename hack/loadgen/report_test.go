package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRowJudged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		r         row
		wantRatio float64 // 0 = none
		wantMet   string  // "", "yes", "no"
	}{
		{"ratio_target_met", row{Value: 60, Ref: 100, Target: target{MinRatio: 0.5}}, 0.6, "yes"},
		{"ratio_target_missed", row{Value: 40, Ref: 100, Target: target{MinRatio: 0.5}}, 0.4, "no"},
		{"ratio_target_without_reference_is_missed", row{Value: 40, Target: target{MinRatio: 0.5}}, 0, "no"},
		{"max_target_met_at_the_bound", row{Value: 10, Target: target{Max: 10}}, 0, "yes"},
		{"max_target_missed", row{Value: 10.01, Ref: 5, Target: target{Max: 10}}, 2.002, "no"},
		{"no_target_no_verdict", row{Value: 3, Ref: 2}, 1.5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.r.judged()
			switch {
			case tt.wantRatio == 0 && got.Ratio != nil:
				t.Errorf("ratio %v, want none", *got.Ratio)
			case tt.wantRatio != 0 && (got.Ratio == nil || *got.Ratio != tt.wantRatio):
				t.Errorf("ratio %v, want %v", got.Ratio, tt.wantRatio)
			}
			met := ""
			if got.Met != nil {
				met = map[bool]string{true: "yes", false: "no"}[*got.Met]
			}
			if met != tt.wantMet {
				t.Errorf("met %q, want %q", met, tt.wantMet)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{3.14159, "ms", "3.14 ms"},
		{31.4159, "ms", "31.4 ms"},
		{14.25, "MiB", "14.2 MiB"},
		{15897.4, "req/s", "15897 req/s"},
		{1000, "req/s", "1000 req/s"},
		{2.5, "req/s", "2.50 req/s"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v, tt.unit); got != tt.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}

func TestMarkdown_renders_rows_and_failures(t *testing.T) {
	t.Parallel()
	rows := []row{
		row{Figure: "/buy c=64 throughput", Value: 15897.4, Unit: "req/s", Ref: 26768, RefName: "raw sarama produce, c=64",
			Target: target{MinRatio: 0.5}}.judged(),
		row{Figure: "/buy at 1000/s p99", Value: 12.5, Unit: "ms", Ref: 5.74, RefName: "raw | produce",
			Target: target{Max: 10}}.judged(),
		row{Figure: "cm-api binary size", Value: 15.94, Unit: "MiB"}.judged(),
	}
	got := markdown(rows, []string{"drain: cm-api: exited\nlast line"})
	want := `| figure | value | reference (same run) | ratio | target | met? |
|---|---|---|---|---|---|
| /buy c=64 throughput | 15897 req/s | 26768 req/s (raw sarama produce, c=64) | 0.59 | ≥ 50% of reference | yes |
| /buy at 1000/s p99 | 12.5 ms | 5.74 ms (raw \| produce) | 2.18 | ≤ 10 ms | **no** |
| cm-api binary size | 15.9 MiB | — | — | — | — |

Failed:
- drain: cm-api: exited
  last line
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReport_writes_JSON(t *testing.T) {
	t.Parallel()
	r := newReport(config{Backlog: 10})
	r.add(row{Scenario: "buy", Figure: "f", Value: 2, Unit: "ms", Target: target{Max: 10}})
	r.detail("k", 1)
	path := filepath.Join(t.TempDir(), "out.json")
	if err := r.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Config struct {
			Backlog int `json:"backlog"`
		} `json:"config"`
		Rows []row `json:"rows"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Config.Backlog != 10 || len(back.Rows) != 1 || back.Rows[0].Met == nil || !*back.Rows[0].Met {
		t.Errorf("got %s, want the config, one met row", strings.TrimSpace(string(b)))
	}
}
