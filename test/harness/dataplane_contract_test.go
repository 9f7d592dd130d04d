package harness

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestContractFromShippedManifests: the contract the real data plane gets
// is what the control plane would write for eventing/: the KafkaSink
// purchases in binary mode at /shop/purchases, and the KafkaSource's
// delivery (retry 130, linear from 500 ms, 10 s per attempt, ordered, the
// dead-letter sink) with no reply and plaintext Kafka.
func TestContractFromShippedManifests(t *testing.T) {
	t.Parallel()
	sink := sinkResource(t, "shop", "purchases", "purchases-x", []string{"a:9092", "b:9092"})
	if sink.Ingress.ContentMode != "BINARY" || sink.Ingress.Path != "/shop/purchases" ||
		sink.BootstrapServers != "a:9092,b:9092" || sink.Topics[0] != "purchases-x" || sink.Reference.Kind != "KafkaSink" {
		t.Errorf("KafkaSink resource: got %+v %+v, want BINARY at /shop/purchases writing purchases-x", sink, sink.Ingress)
	}
	cfg := SourceConfig{Brokers: []string{"a:9092"}, Topic: "purchases-x", Group: "cm-api-x", Sink: "http://cm-api/",
		DeadLetterSink: "http://dls/shop/purchases-dlq", Namespace: "shop", Delivery: ShippedDelivery(t)}
	src := sourceResource(t, cfg, "uid-1", 2)
	e := src.Egresses[0]
	want := dpEgressConfig{DeadLetter: cfg.DeadLetterSink, Retry: 130, BackoffPolicy: "Linear", BackoffDelay: "500", Timeout: "10000"}
	if e.EgressConfig != want {
		t.Errorf("egressConfig: got %+v, want %+v", e.EgressConfig, want)
	}
	if e.DeliveryOrder != "ORDERED" || e.ConsumerGroup != "cm-api-x" || e.Destination != "http://cm-api/" || e.VReplicas != 2 ||
		e.Reference.Kind != "KafkaSource" || src.MultiAuthSecret == nil || src.MultiAuthSecret.Protocol != "PLAINTEXT" {
		t.Errorf("egress: got %+v of %+v", e, src)
	}
	if e.OIDCServiceAccountName != "" || e.DestinationAudience != "" {
		t.Errorf("sender identity off: got service account %q, audience %q, want none", e.OIDCServiceAccountName, e.DestinationAudience)
	}
	raw, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"discardReply":{}`) {
		t.Errorf("contract JSON: got %s, want a discardReply (the KafkaSource's NoReply)", raw)
	}

	cfg.Token = func() string { return "t" }
	e = sourceResource(t, cfg, "uid-1", 1).Egresses[0]
	if e.OIDCServiceAccountName != sourceServiceAccount || e.DestinationAudience != cfg.SinkAudience() ||
		e.EgressConfig.DeadLetterAudience != "eventing.knative.dev/kafkasink/shop/purchases-dlq" {
		t.Errorf("sender identity on: got %+v", e)
	}
}
