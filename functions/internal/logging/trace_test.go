package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/internal/logging"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

func TestNew_logsTheSpanOfTheContext(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := logging.New(&buf, "info", "cm-test")
	if err != nil {
		t.Fatal(err)
	}
	sc := telemetry.SpanContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	log.With("k", "v").InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "with span")
	log.InfoContext(context.Background(), "without span")
	dec := json.NewDecoder(&buf)
	for _, want := range []map[string]string{
		{"msg": "with span", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "function": "cm-test", "k": "v"},
		{"msg": "without span", "trace_id": "", "span_id": ""},
	} {
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if s, _ := got[k].(string); s != v {
				t.Errorf("%s %s: got %q, want %q", want["msg"], k, s, v)
			}
		}
	}
}
