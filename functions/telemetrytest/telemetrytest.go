// Package telemetrytest holds what tests of the shop's spans share: an
// in-memory span recorder installed as the process's tracer provider, and
// an OTLP/HTTP receiver for tests that run the real binaries.
package telemetrytest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// Record installs a tracer provider that records every span in memory, with
// W3C propagation, until the test ends. It changes process globals: tests
// that call it must not run in parallel (t.Parallel tests of the package
// wait until they are done).
func Record(t testing.TB) *tracetest.SpanRecorder {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(telemetry.SetTracerProvider(tp, true))
	return sr
}

// Named returns the ended spans called name.
func Named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// Span is one span a Receiver received, with the resource that sent it.
type Span struct {
	Service  string
	Resource map[string]string // string attributes
	*tracepb.Span
}

// Receiver is an OTLP/HTTP trace receiver (http/protobuf, POST /v1/traces).
type Receiver struct {
	// URL is the value for OTEL_EXPORTER_OTLP_ENDPOINT.
	URL   string
	mu    sync.Mutex
	spans []Span
	// Conns counts the connections made to it.
	Conns atomic.Int64
}

// NewReceiver starts a receiver that stops when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.Conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var in collectortrace.ExportTraceServiceRequest
	if err == nil && req.URL.Path == "/v1/traces" {
		err = proto.Unmarshal(body, &in)
	}
	if err != nil || req.URL.Path != "/v1/traces" {
		http.Error(w, "want an OTLP/HTTP protobuf trace export on /v1/traces", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range in.GetResourceSpans() {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, Span{res["service.name"], res, s})
			}
		}
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}
