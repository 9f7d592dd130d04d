package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/scalable-shop/scalable-shop/functions/telemetrytest"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestTracing_onePurchaseIsOneTrace runs both real binaries exporting to an
// in-test OTLP/HTTP receiver, in Kafka mode and in Knative mode (KafkaSink
// and KafkaSource stand-ins), and follows one purchase: cm-server's server
// and producer spans and cm-api's consumer span share one trace, the
// consumer is the producer's child and links to it, the group-commit span
// links to the consumer; reading the purchases back is one trace from
// cm-server's server span through its client span to cm-api's server span.
func TestTracing_onePurchaseIsOneTrace(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ name, process string }{{"kafka", "process "}, {"knative", "process"}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			brokers := harness.Integration(t)
			recv := telemetrytest.NewReceiver(t)
			otel := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL, "OTEL_BSP_SCHEDULE_DELAY": "50"}
			shop := harness.NewShop(t, brokers, harness.MongoURI(t))
			if mode.name == "kafka" {
				shop.StartAPI(true, otel)
				shop.StartServer("", otel)
			} else {
				shop.StartAPI(false, otel)
				shop.StartKafkaSource(1)
				shop.StartServer(harness.StartKafkaSink(t, brokers, shop.Topic), otel)
			}
			if mode.name == "kafka" {
				mode.process += shop.Topic // the consumer knows the topic; behind a KafkaSource it does not
			}
			status, bought, err := shop.Buy(`{"username":"traced","userid":"t","price":"1"}`, nil)
			if err != nil || status != http.StatusAccepted {
				t.Fatalf("buy: got %d, %v; want 202", status, err)
			}
			var spans map[string]telemetrytest.Span
			harness.Eventually(t, visibleWithin, func() string {
				spans = purchaseSpans(recv.Spans(), bought.ID, mode.process)
				if len(spans) < 4 {
					return fmt.Sprintf("waiting for the purchase's 4 spans, have %d of %s", len(spans), names(recv.Spans()))
				}
				return ""
			})
			checkPurchaseTrace(t, spans, shop.Topic, mode.process)
			if _, err := shop.AllUserBuys("traced", 10); err != nil {
				t.Fatal(err)
			}
			harness.Eventually(t, visibleWithin, func() string { return checkListTrace(recv.Spans()) })
		})
	}
}

// purchaseSpans finds the purchase's spans by its id: the send span carries
// it as messaging.message.id, the others are found from there.
func purchaseSpans(all []telemetrytest.Span, id, process string) map[string]telemetrytest.Span {
	out := map[string]telemetrytest.Span{}
	for _, s := range all {
		if s.Kind == tracepb.Span_SPAN_KIND_PRODUCER && stringAttr(s.Span, "messaging.message.id") == id {
			out["send"] = s
		}
	}
	send, ok := out["send"]
	if !ok {
		return out
	}
	for _, s := range all {
		switch {
		case s.Name == "POST /buy" && bytes.Equal(s.SpanId, send.ParentSpanId):
			out["server"] = s
		case s.Name == process && bytes.Equal(s.TraceId, send.TraceId):
			out["process"] = s
		}
	}
	for _, s := range all {
		if p, ok := out["process"]; ok && s.Name == "insert purchases" && linksTo(s.Span, p.SpanId) {
			out["batch"] = s
		}
	}
	return out
}

func checkPurchaseTrace(t *testing.T, spans map[string]telemetrytest.Span, topic, process string) {
	t.Helper()
	if got := spans["send"].Name; got != "send "+topic {
		t.Errorf("producer span: got %q, want %q", got, "send "+topic)
	}
	want := map[string]struct {
		service string
		kind    tracepb.Span_SpanKind
	}{
		"server": {"cm-server", tracepb.Span_SPAN_KIND_SERVER}, "send": {"cm-server", tracepb.Span_SPAN_KIND_PRODUCER},
		"process": {"cm-api", tracepb.Span_SPAN_KIND_CONSUMER}, "batch": {"cm-api", tracepb.Span_SPAN_KIND_CLIENT},
	}
	for role, w := range want {
		if s := spans[role]; s.Service != w.service || s.Kind != w.kind {
			t.Errorf("%s span: got %s from %q kind %v, want from %s kind %v", role, s.Name, s.Service, s.Kind, w.service, w.kind)
		}
	}
	send, p := spans["send"], spans["process"]
	if !bytes.Equal(p.ParentSpanId, send.SpanId) || !linksTo(p.Span, send.SpanId) {
		t.Errorf("%s: got parent %x links %v, want the send span %x as parent and link", process, p.ParentSpanId, p.Links, send.SpanId)
	}
	if !bytes.Equal(spans["server"].TraceId, send.TraceId) {
		t.Errorf("POST /buy and send: got traces %x and %x, want one", spans["server"].TraceId, send.TraceId)
	}
}

// checkListTrace says what is missing for GET /getAllUserBuys to be one
// trace down to cm-api's GET /buyList, "" when nothing is.
func checkListTrace(all []telemetrytest.Span) string {
	for _, srv := range all {
		if srv.Name != "GET /getAllUserBuys/{username}" {
			continue
		}
		for _, client := range all {
			if client.Service != "cm-server" || client.Kind != tracepb.Span_SPAN_KIND_CLIENT || !bytes.Equal(client.ParentSpanId, srv.SpanId) {
				continue
			}
			for _, api := range all {
				if api.Service == "cm-api" && api.Name == "GET /buyList/{username}" && bytes.Equal(api.ParentSpanId, client.SpanId) {
					return ""
				}
			}
			return "waiting for cm-api's GET /buyList span under cm-server's client span"
		}
		return "waiting for cm-server's client span to cm-api"
	}
	return "waiting for cm-server's GET /getAllUserBuys span"
}

// names lists the spans received, for a failure message.
func names(all []telemetrytest.Span) string {
	var b strings.Builder
	for _, s := range all {
		fmt.Fprintf(&b, "%s/%s(%x<-%x) ", s.Service, s.Name, s.SpanId, s.ParentSpanId)
	}
	return b.String()
}

func stringAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func linksTo(s *tracepb.Span, spanID []byte) bool {
	for _, l := range s.Links {
		if bytes.Equal(l.SpanId, spanID) {
			return true
		}
	}
	return false
}
