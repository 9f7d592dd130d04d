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

// TestDefaultConfig_givesEachFunctionItsMetricsPort: under `make run`
// cm-server and cm-api serve /metrics on 9464 and 9465, their defaults.
func TestDefaultConfig_givesEachFunctionItsMetricsPort(t *testing.T) {
	t.Parallel()
	cfg, err := defaultConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cm-server": "METRICS_PORT=9464", "cm-api": "METRICS_PORT=9465"}
	for _, fn := range cfg.functions {
		if env := childEnv(cfg, fn, &deps{}); !slices.Contains(env, want[fn.name]) {
			t.Errorf("%s's environment: got %q, want %s", fn.name, env, want[fn.name])
		}
	}
}
