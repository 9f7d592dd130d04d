package main

import (
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		check func(c config) string
	}{
		{"defaults_are_the_full_run", nil, func(c config) string {
			if c.Duration != 20*time.Second || c.Backlog != 100_000 || !slices.Equal(c.Histories, []int{10, 1000, 100_000}) ||
				!slices.Equal(c.Scenarios, scenarios) || !slices.Equal(c.Rates, []float64{1000, 5000}) {
				return "not the full defaults"
			}
			return ""
		}},
		{"quick_shortens_what_is_not_given", []string{"-quick", "-backlog", "500"}, func(c config) string {
			if c.Duration != 5*time.Second || c.Backlog != 500 || !slices.Equal(c.Histories, []int{10, 1000}) {
				return "quick defaults not applied, or the given -backlog overridden"
			}
			return ""
		}},
		{"scenarios_run_in_their_own_order", []string{"-scenarios", "page,cold"}, func(c config) string {
			if !slices.Equal(c.Scenarios, []string{"cold", "page"}) {
				return "scenarios not in run order"
			}
			return ""
		}},
		{"env_flags_repeat", []string{"-api-env", "A=1", "-api-env", "B=2"}, func(c config) string {
			if !slices.Equal(c.APIEnv, envList{"A=1", "B=2"}) {
				return "api-env not collected"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseConfig(tt.args, io.Discard)
			if err != nil {
				t.Fatalf("parseConfig(%q): %v", tt.args, err)
			}
			if msg := tt.check(c); msg != "" {
				t.Errorf("parseConfig(%q): %s: %+v", tt.args, msg, c)
			}
		})
	}
}

func TestParseConfig_rejects(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-scenarios", "cold,nope"},
		{"-rates", "1000,-1"},
		{"-histories", "10,x"},
		{"-backlog", "0"},
		{"-duration", "0s"},
		{"-api-env", "NOEQUALS"},
	} {
		if _, err := parseConfig(args, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) = nil error, want one", args)
		}
	}
}
