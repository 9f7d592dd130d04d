package main

import (
	"slices"
	"testing"
)

// TestDefaultConfig_passesTracingVariablesOn: `OTEL_EXPORTER_OTLP_ENDPOINT=...
// make run` reaches both functions; OTEL_SERVICE_NAME does not (each
// function names itself) and neither does a stray variable.
func TestDefaultConfig_passesTracingVariablesOn(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "always_on",
		"OTEL_SERVICE_NAME": "x", "STRAY": "1"}
	cfg, err := defaultConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(cfg.env)
	want := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER=always_on"}
	if !slices.Equal(cfg.env, want) {
		t.Errorf("got %q, want %q", cfg.env, want)
	}
}
