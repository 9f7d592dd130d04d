package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// target is what a figure should be; a zero target has none.
type target struct {
	MinRatio float64 `json:"min_ratio,omitempty"` // value/reference at least this
	Max      float64 `json:"max,omitempty"`       // value at most this, in the row's unit
}

// row is one figure of the report.
type row struct {
	Scenario string   `json:"scenario"`
	Figure   string   `json:"figure"`
	Value    float64  `json:"value"`
	Unit     string   `json:"unit"`
	Ref      float64  `json:"reference,omitempty"` // measured in the same run; 0 = none
	RefName  string   `json:"reference_name,omitempty"`
	Target   target   `json:"target"`
	Ratio    *float64 `json:"ratio,omitempty"`
	Met      *bool    `json:"met,omitempty"`
}

// judged fills in the ratio and whether the target was met.
func (r row) judged() row {
	if r.Ref > 0 {
		ratio := r.Value / r.Ref
		r.Ratio = &ratio
	}
	var met bool
	switch {
	case r.Target.MinRatio > 0:
		met = r.Ratio != nil && *r.Ratio >= r.Target.MinRatio
	case r.Target.Max > 0:
		met = r.Value <= r.Target.Max
	default:
		return r
	}
	r.Met = &met
	return r
}

func (t target) String(unit string) string {
	switch {
	case t.MinRatio > 0:
		return fmt.Sprintf("≥ %.0f%% of reference", 100*t.MinRatio)
	case t.Max > 0:
		return "≤ " + strconv.FormatFloat(t.Max, 'f', -1, 64) + " " + unit
	}
	return "—"
}

// formatValue writes a number with its unit, as precise as it is useful.
func formatValue(v float64, unit string) string {
	switch {
	case unit == "ms" && v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case unit == "ms":
		return fmt.Sprintf("%.1f ms", v)
	case unit == "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case v == math.Trunc(v) || math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// markdown renders the rows as a table, failures below it.
func markdown(rows []row, failures []string) string {
	var b strings.Builder
	b.WriteString("| figure | value | reference (same run) | ratio | target | met? |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		ref, ratio, met := "—", "—", "—"
		if r.Ref > 0 {
			ref = formatValue(r.Ref, r.Unit) + " (" + r.RefName + ")"
		}
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *r.Ratio)
		}
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*r.Met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", escapeCell(r.Figure), formatValue(r.Value, r.Unit),
			escapeCell(ref), ratio, r.Target.String(r.Unit), met)
	}
	if len(failures) > 0 {
		b.WriteString("\nFailed:\n")
		for _, f := range failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "\n", "\n  "))
		}
	}
	return b.String()
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// report collects the figures, details and failures of a run.
type report struct {
	mu       sync.Mutex
	Started  time.Time      `json:"started"`
	Runtime  float64        `json:"runtime_s"`
	Config   config         `json:"config"`
	Env      map[string]any `json:"environment"`
	Rows     []row          `json:"rows"`
	Details  map[string]any `json:"details"`
	Failures []string       `json:"failures"`
}

func newReport(cfg config) *report {
	return &report{Started: time.Now(), Config: cfg, Env: map[string]any{}, Details: map[string]any{}, Failures: []string{}}
}

func (r *report) add(rows ...row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range rows {
		r.Rows = append(r.Rows, x.judged())
	}
}

func (r *report) detail(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Details[key] = v
}

func (r *report) fail(scenario string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Failures = append(r.Failures, scenario+": "+err.Error())
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// millis is d in milliseconds, for rows.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
