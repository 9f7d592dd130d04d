package harness

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// TestContractFromShippedManifests: the contract the real data plane gets
// is what the control plane would write for eventing/: the KafkaSink
// purchases in binary mode at /shop/purchases, and the KafkaSource's
// delivery (retry 130, linear from 500 ms, 10 s per attempt, unordered, the
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
	if e.DeliveryOrder != "UNORDERED" || e.ConsumerGroup != "cm-api-x" || e.Destination != "http://cm-api/" || e.VReplicas != 2 ||
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

// TestContractFromRenderedChart: the chart renders the KafkaSinks and the
// KafkaSource that give the data plane the same contract as eventing/: the
// same sinks' content modes and the same delivery. It needs helm ($HELM or
// bin/helm); make test installs the pinned one.
func TestContractFromRenderedChart(t *testing.T) {
	t.Parallel()
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(repoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		t.Skipf("helm not found ($HELM or bin/helm: %v); make tools installs it", err)
	}
	out, err := exec.Command(helm, "template", "shop", filepath.Join(repoRoot(), "charts", "scalable-shop")).Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"purchases", "purchases-dlq"} {
		rendered, err := stack.ShippedKafkaSinkMode(dir, name)
		shipped, err2 := stack.ShippedKafkaSinkMode(filepath.Join(repoRoot(), "eventing"), name)
		if err != nil || err2 != nil || rendered != shipped {
			t.Errorf("KafkaSink %s: chart renders contentMode %q (%v), eventing/ has %q (%v)", name, rendered, err, shipped, err2)
		}
	}
	docs, err := stack.ShippedDocuments(dir, "KafkaSource", "")
	if err != nil || len(docs) != 1 {
		t.Fatalf("chart: got %d KafkaSources (%v), want 1", len(docs), err)
	}
	var src kafkaSourceDoc
	if err := yaml.Unmarshal(docs[0], &src); err != nil {
		t.Fatal(err)
	}
	if got, want := delivery(t, src), ShippedDelivery(t); got != want {
		t.Errorf("KafkaSource delivery: chart renders %+v, eventing/ has %+v", got, want)
	}
}
