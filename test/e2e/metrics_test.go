package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape reads base's /metrics; base is a function's metrics port
// (shop.ServerMetrics, shop.APIMetrics).
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s/metrics: got status %d, want 200", base, resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s/metrics: %v", base, err)
	}
	return string(body)
}

// metricValue scrapes base's /metrics and returns the value of the series
// written exactly as series (name and labels as exposed); 0 when absent.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	for line := range strings.Lines(scrape(t, base)) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return parseValue(t, series, rest)
		}
	}
	return 0
}

// metricSeries scrapes base's /metrics and returns the values of every
// series of the metric name, whatever its labels.
func metricSeries(t *testing.T, base, name string) []float64 {
	t.Helper()
	var out []float64
	for line := range strings.Lines(scrape(t, base)) {
		if strings.HasPrefix(line, name+"{") {
			_, value, _ := strings.Cut(line, "} ")
			out = append(out, parseValue(t, name, value))
		}
	}
	return out
}

func parseValue(t *testing.T, series, raw string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil {
		t.Fatalf("%s: value %q: %v", series, raw, err)
	}
	return v
}

func sum(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}
