package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
	"github.com/scalable-shop/scalable-shop/functions/telemetrytest"
)

const callerTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestBuy_spans: POST /buy is a server span continuing the caller's trace,
// the send a producer span under it whose context the event carries.
func TestBuy_spans(t *testing.T) {
	sr := telemetrytest.Record(t)
	snd := &fakeSender{}
	rec := apitest.Do(newTestServer(t, snd, "http://127.0.0.1:1", time.Second), "POST", "/buy", joe,
		map[string]string{"Content-Type": "application/json", "traceparent": callerTP})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status: got %d, want 202", rec.Code)
	}
	srv, send := telemetrytest.Named(sr.Ended(), "POST /buy"), telemetrytest.Named(sr.Ended(), "send purchases")
	if len(srv) != 1 || len(send) != 1 {
		t.Fatalf("got %d POST /buy and %d send purchases spans, want 1 each", len(srv), len(send))
	}
	if srv[0].SpanKind() != trace.SpanKindServer || srv[0].Parent().SpanID().String() != "00f067aa0ba902b7" ||
		srv[0].SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span: got kind %v parent %v, want server under the caller's span", srv[0].SpanKind(), srv[0].Parent())
	}
	if send[0].SpanKind() != trace.SpanKindProducer || send[0].Parent().SpanID() != srv[0].SpanContext().SpanID() {
		t.Errorf("send span: got kind %v parent %v, want producer under the server span", send[0].SpanKind(), send[0].Parent())
	}
	ev := snd.sent()[0]
	want := map[string]string{"messaging.system": "kafka", "messaging.destination.name": "purchases",
		"messaging.message.id": ev.ID(), "messaging.operation.type": "send", "shop.transport": "kafka"}
	for _, kv := range send[0].Attributes() {
		if v, ok := want[string(kv.Key)]; ok && kv.Value.Emit() == v {
			delete(want, string(kv.Key))
		}
	}
	if len(want) != 0 {
		t.Errorf("send span attributes: got %v, missing %v", send[0].Attributes(), want)
	}
	if got := ev.Extensions()[telemetry.TraceParentExtension]; got != telemetry.TraceParent(trace.ContextWithSpanContext(t.Context(), send[0].SpanContext())) {
		t.Errorf("event traceparent: got %v, want the send span's", got)
	}
	if got := telemetry.SpanContext(rec.Header().Get("traceparent")); got.SpanID() != srv[0].SpanContext().SpanID() {
		t.Errorf("response traceparent: got %q, want the server span's", rec.Header().Get("traceparent"))
	}
}

// TestGetAllUserBuys_spans: the call to cm-api is a client span under the
// server span, and cm-api gets its traceparent.
func TestGetAllUserBuys_spans(t *testing.T) {
	sr := telemetrytest.Record(t)
	var got string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
		_, _ = w.Write([]byte(`{"status":"Ok!","purchases":[]}`))
	}))
	defer api.Close()
	rec := apitest.Do(newTestServer(t, &fakeSender{}, api.URL, time.Second), "GET", "/getAllUserBuys/joe", "",
		map[string]string{"traceparent": callerTP})
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", rec.Code)
	}
	srv, client := telemetrytest.Named(sr.Ended(), "GET /getAllUserBuys/{username}"), telemetrytest.Named(sr.Ended(), "HTTP GET")
	if len(srv) != 1 || len(client) != 1 {
		t.Fatalf("got %d server and %d client spans, want 1 each", len(srv), len(client))
	}
	if client[0].SpanKind() != trace.SpanKindClient || client[0].Parent().SpanID() != srv[0].SpanContext().SpanID() {
		t.Errorf("client span: got kind %v parent %v, want client under the server span", client[0].SpanKind(), client[0].Parent())
	}
	if sc := telemetry.SpanContext(got); sc.SpanID() != client[0].SpanContext().SpanID() {
		t.Errorf("cm-api got traceparent %q, want the client span's", got)
	}
}

// TestProbes_noSpans: probes are not traced.
func TestProbes_noSpans(t *testing.T) {
	sr := telemetrytest.Record(t)
	h := newTestServer(t, &fakeSender{}, "http://127.0.0.1:1", time.Second)
	for _, path := range []string{"/healthz", "/readyz"} {
		apitest.Do(h, "GET", path, "", nil)
	}
	if n := len(sr.Ended()); n != 0 {
		t.Errorf("got %d spans, want none", n)
	}
}

// TestBuy_notRecordingPassesTheTraceOn: with no recording provider (no
// exporter) no span is made, and the caller's traceparent goes out with the
// event and in the answer unchanged.
func TestBuy_notRecordingPassesTheTraceOn(t *testing.T) {
	t.Cleanup(telemetry.SetTracerProvider(noop.NewTracerProvider(), false))
	snd := &fakeSender{}
	rec := apitest.Do(newTestServer(t, snd, "http://127.0.0.1:1", time.Second), "POST", "/buy", joe,
		map[string]string{"Content-Type": "application/json", "traceparent": callerTP})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status: got %d, want 202", rec.Code)
	}
	if got := snd.sent()[0].Extensions()[telemetry.TraceParentExtension]; got != callerTP {
		t.Errorf("event traceparent: got %v, want the caller's %s", got, callerTP)
	}
	if got := rec.Header().Get("traceparent"); got != callerTP {
		t.Errorf("response traceparent: got %q, want the caller's %s", got, callerTP)
	}
}

// BenchmarkBuyHandler_recording is BenchmarkBuyHandler with every span
// recorded (in memory): what tracing costs when it is on.
func BenchmarkBuyHandler_recording(b *testing.B) {
	telemetrytest.Record(b)
	h := newTestServer(b, discardSender{}, "http://127.0.0.1:1", time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if rec := apitest.Do(h, "POST", "/buy", joe, jsonHeader); rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// TestSinkSend_spans: through a KafkaSink the producer span says so, and a
// client span under it brings the sink the trace in traceparent, beside the
// event's own ce-traceparent (the producer span's context).
func TestSinkSend_spans(t *testing.T) {
	sr := telemetrytest.Record(t)
	var header http.Header
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	hs, err := newHTTPSender(sink.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	p := purchase.Purchase{ID: "s-1", Username: "joe", UserID: "005", Price: 100, Timestamp: time.Unix(0, 0).UTC()}
	if err := newObservedSender(hs, "purchases", "http", telemetry.NewMetrics("cm-server").Counter("sent", "Sent.", "result")).Send(t.Context(), purchase.NewEvent(p, "/test")); err != nil {
		t.Fatal(err)
	}
	send, client := telemetrytest.Named(sr.Ended(), "send purchases"), telemetrytest.Named(sr.Ended(), "HTTP POST")
	if len(send) != 1 || len(client) != 1 || client[0].Parent().SpanID() != send[0].SpanContext().SpanID() {
		t.Fatalf("got %d send and %d client spans, want one client span under one send span", len(send), len(client))
	}
	via := ""
	for _, kv := range send[0].Attributes() {
		if kv.Key == "shop.transport" {
			via = kv.Value.AsString()
		}
	}
	if via != "knative-kafkasink" {
		t.Errorf("send shop.transport: got %q, want knative-kafkasink", via)
	}
	if sc := telemetry.SpanContext(header.Get("traceparent")); sc.SpanID() != client[0].SpanContext().SpanID() {
		t.Errorf("sink traceparent: got %q, want the client span's", header.Get("traceparent"))
	}
	if sc := telemetry.SpanContext(header.Get("Ce-Traceparent")); sc.SpanID() != send[0].SpanContext().SpanID() {
		t.Errorf("sink ce-traceparent: got %q, want the send span's", header.Get("Ce-Traceparent"))
	}
}
