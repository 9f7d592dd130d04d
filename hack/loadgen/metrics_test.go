package main

import (
	"strings"
	"testing"
)

func TestSumCounters_adds_the_matching_samples(t *testing.T) {
	t.Parallel()
	text := `# HELP shop_events_total Purchase events by outcome.
# TYPE shop_events_total counter
shop_events_total{function="cm-api",result="duplicate"} 3
shop_events_total{function="cm-api",result="rejected"} 7
shop_events_total{function="cm-api",result="stored"} 99997
shop_events_total_other{function="cm-api",result="stored"} 5
shop_store_batch_size_bucket{function="cm-api",le="1"} 11
`
	got, err := sumCounters(strings.NewReader(text), "shop_events_total", `result="stored"`, `result="duplicate"`)
	if err != nil || got != 100000 {
		t.Errorf("sumCounters = %d, %v; want 100000, nil", got, err)
	}
}

func TestSumCounters_rejects_a_bad_value(t *testing.T) {
	t.Parallel()
	for _, line := range []string{`shop_events_total{result="stored"} many`, `shop_events_total{result="stored"} `} {
		if _, err := sumCounters(strings.NewReader(line+"\n"), "shop_events_total", `result="stored"`); err == nil {
			t.Errorf("sumCounters accepted %q", line)
		}
	}
}
