package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
	"github.com/scalable-shop/scalable-shop/functions/telemetrytest"
)

func TestExporterWanted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr bool
	}{
		{"nothing_set_no_exporter", nil, false, false},
		{"endpoint_exports", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, false},
		{"traces_endpoint_exports", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, false},
		{"otlp_without_endpoint_exports_to_default", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"exporter_none_wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, false},
		{"sdk_disabled_wins", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, false},
		{"http_protobuf_ok", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, false},
		{"grpc_refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, true},
		{"traces_protocol_refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, false, true},
		{"other_exporter_refused", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := telemetry.ExporterWanted(apitest.Lookup(tc.env))
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestStartTracing_offRecordsAndSendsNothing: with no exporter asked for,
// even when the process environment (which the SDK reads) names a
// receiver, no span records and no connection is made; the same set-up
// with the exporter asked for does send, so the receiver would see it.
func TestStartTracing_offRecordsAndSendsNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		on     bool
		lookup func(url string) map[string]string
	}{
		{"unset_sends_nothing", false, func(string) map[string]string { return nil }},
		{"exporter_none_sends_nothing", false, func(u string) map[string]string {
			return map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": u}
		}},
		{"endpoint_sends", true, func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u, "K_SERVICE": "cm-test", "K_REVISION": "cm-test-00001"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			telemetrytest.Record(t) // restores the globals StartTracing sets
			recv := telemetrytest.NewReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
			stop, err := telemetry.StartTracing(context.Background(), slog.New(slog.NewJSONHandler(io.Discard, nil)),
				apitest.Lookup(tc.lookup(recv.URL)), "cm-test")
			if err != nil {
				t.Fatal(err)
			}
			_, span := otel.Tracer("test").Start(context.Background(), "work")
			recording := span.IsRecording()
			span.End()
			if err := stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			// stop flushed synchronously: an export would have been answered.
			if recording != tc.on || (recv.Conns.Load() > 0) != tc.on || (len(recv.Spans()) == 1) != tc.on {
				t.Errorf("got recording %v, %d connections, %d spans received; want exporting %v",
					recording, recv.Conns.Load(), len(recv.Spans()), tc.on)
			}
			for _, s := range recv.Spans() {
				if s.Service != "cm-test" || s.Resource["faas.name"] != "cm-test" || s.Resource["faas.version"] != "cm-test-00001" {
					t.Errorf("resource: got %v, want service.name, faas.name cm-test and faas.version cm-test-00001", s.Resource)
				}
			}
		})
	}
}
