package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// metricValue scrapes base's /metrics and returns the value of the series
// written exactly as series (name and labels as exposed); 0 when absent.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s/metrics: %v", base, err)
	}
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: value %q: %v", series, rest, err)
			}
			return v
		}
	}
	return 0
}
