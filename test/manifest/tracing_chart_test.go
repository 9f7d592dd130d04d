package manifest

import (
	"strings"
	"testing"
)

// tracingValues switch tracing on with a sampler.
var tracingValues = []string{"tracing.otlpEndpoint=http://otel-collector.observability:4318",
	"tracing.sampler=parentbased_traceidratio", "tracing.samplerArg=0.25"}

// TestHelmTemplate_tracingSetsOTELOnBothFunctions: tracing.* values become
// both functions' OTEL_ variables, in both modes; by default there are none,
// so nothing is exported.
func TestHelmTemplate_tracingSetsOTELOnBothFunctions(t *testing.T) {
	t.Parallel()
	want := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
	for _, tc := range []struct {
		name string
		set  []string
		want map[string]string
	}{
		{"knative_off_by_default", nil, nil},
		{"knative_on", tracingValues, want},
		{"kubernetes_on", append([]string{"mode=kubernetes"}, tracingValues...), want},
		{"endpoint_only", tracingValues[:1], map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": want["OTEL_EXPORTER_OTLP_ENDPOINT"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, tc.set...)
			if err != nil {
				t.Fatalf("helm template: got %v, want success", err)
			}
			for _, cm := range []string{"cm-server-config", "cm-api-config"} {
				got := map[string]string{}
				for k, v := range configData(bundle(ms), cm) {
					if strings.HasPrefix(k, "OTEL_") {
						got[k] = v
					}
				}
				if len(got) != len(tc.want) {
					t.Errorf("%s: got %v, want %v", cm, got, tc.want)
				}
				for k, v := range tc.want {
					if got[k] != v {
						t.Errorf("%s %s: got %q, want %q", cm, k, got[k], v)
					}
				}
			}
		})
	}
}

// TestHelmTemplate_rejectsBadTracingValues: the schema stops a grpc-style
// endpoint without scheme, an unknown sampler and a ratio that is no number.
func TestHelmTemplate_rejectsBadTracingValues(t *testing.T) {
	t.Parallel()
	helmBinary(t)
	for _, set := range []string{"tracing.otlpEndpoint=otel-collector:4317", "tracing.sampler=sometimes", "tracing.samplerArg=half"} {
		t.Run(set, func(t *testing.T) {
			t.Parallel()
			key := strings.TrimPrefix(strings.SplitN(set, "=", 2)[0], "tracing.")
			if _, err := helmTemplate(t, set); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("helm template --set %s: got %v, want an error mentioning %s", set, err, key)
			}
		})
	}
}
