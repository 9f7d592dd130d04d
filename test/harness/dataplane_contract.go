package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// The contract the real data plane reads (eventing-kafka-broker
// knative-v1.23.0, proto/contract.proto, as protobuf JSON: enums by name,
// durations in milliseconds), written here as the control plane writes it
// for the shipped manifests, so that no Kubernetes is needed:
//   - a KafkaSink becomes one receiver resource
//     (control-plane/pkg/reconciler/sink/kafka_sink.go, sinkConfig): its
//     topic, bootstrap servers, ingress {contentMode, path
//     "/<namespace>/<name>"} and a reference to the sink;
//   - a KafkaSource becomes a ConsumerGroup and one Consumer per dispatcher
//     pod (control-plane/pkg/reconciler/source/source.go,
//     reconcileConsumerGroup), and each Consumer one dispatcher resource
//     (control-plane/pkg/reconciler/consumer/consumer.go,
//     reconcileContractResource): its topics, bootstrap servers, the auth
//     of spec.net (PLAINTEXT: multiAuthSecret with no references) and one
//     egress {consumerGroup, destination, discardReply (the source's
//     NoReply), egressConfig from spec.delivery
//     (control-plane/pkg/core/config/utils.go, EgressConfigFromDelivery:
//     backoffDelay defaults to 200 ms), deliveryOrder from spec.ordering,
//     the reference to the KafkaSource, vReplicas of that pod}.
// EventType auto-creation, the rate limiter and the ordered executor's
// metrics are off, as the shipped config-kafka-features has them.

type dpContract struct {
	Generation string       `json:"generation"`
	Resources  []dpResource `json:"resources"`
}

type dpResource struct {
	UID              string          `json:"uid"`
	Topics           []string        `json:"topics"`
	BootstrapServers string          `json:"bootstrapServers"`
	Ingress          *dpIngress      `json:"ingress,omitempty"`
	Egresses         []dpEgress      `json:"egresses,omitempty"`
	MultiAuthSecret  *dpMultiAuth    `json:"multiAuthSecret,omitempty"`
	Reference        dpReference     `json:"reference"`
	FeatureFlags     map[string]bool `json:"featureFlags"`
}

type dpIngress struct {
	ContentMode string `json:"contentMode"`
	Path        string `json:"path"`
}

type dpMultiAuth struct {
	Protocol string `json:"protocol"`
}

type dpEgress struct {
	ConsumerGroup          string          `json:"consumerGroup"`
	Destination            string          `json:"destination"`
	DestinationAudience    string          `json:"destinationAudience,omitempty"`
	DiscardReply           struct{}        `json:"discardReply"`
	UID                    string          `json:"uid"`
	EgressConfig           dpEgressConfig  `json:"egressConfig"`
	DeliveryOrder          string          `json:"deliveryOrder"`
	Reference              dpReference     `json:"reference"`
	VReplicas              int             `json:"vReplicas"`
	FeatureFlags           map[string]bool `json:"featureFlags"`
	OIDCServiceAccountName string          `json:"oidcServiceAccountName,omitempty"`
}

type dpEgressConfig struct {
	DeadLetter         string `json:"deadLetter,omitempty"`
	DeadLetterAudience string `json:"deadLetterAudience,omitempty"`
	Retry              int    `json:"retry"`
	BackoffPolicy      string `json:"backoffPolicy"`
	BackoffDelay       string `json:"backoffDelay"`
	Timeout            string `json:"timeout"`
}

type dpReference struct {
	UUID         string `json:"uuid"`
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	GroupVersion string `json:"groupVersion"`
}

// sinkResource is the receiver's resource for the shipped KafkaSink name in
// namespace, writing to topic (the test's own) on brokers.
func sinkResource(t testing.TB, namespace, name, topic string, brokers []string) dpResource {
	t.Helper()
	mode, err := stack.ShippedKafkaSinkMode(filepath.Join(repoRoot(), "eventing"), name)
	if err != nil {
		t.Fatalf("KafkaSink contract: %v", err)
	}
	uid := Unique("kafkasink-" + name)
	return dpResource{
		UID: uid, Topics: []string{topic}, BootstrapServers: strings.Join(brokers, ","),
		Ingress:      &dpIngress{ContentMode: strings.ToUpper(mode), Path: "/" + namespace + "/" + name},
		Reference:    dpReference{UUID: uid, Namespace: namespace, Name: name, Kind: "KafkaSink", GroupVersion: "eventing.knative.dev/v1alpha1"},
		FeatureFlags: map[string]bool{"enableEventTypeAutocreate": false},
	}
}

// sourceResource is one dispatcher pod's resource for the shipped
// KafkaSource with cfg's topic, group and destinations, and vReplicas of
// its consumers placed on that pod.
func sourceResource(t testing.TB, cfg SourceConfig, uid string, vReplicas int) dpResource {
	t.Helper()
	d := cfg.Delivery
	policy := "Exponential"
	if d.Linear {
		policy = "Linear"
	}
	order := "UNORDERED"
	if d.Ordered {
		order = "ORDERED"
	}
	ref := dpReference{UUID: uid, Namespace: cfg.Namespace, Name: "cm-api-purchases", Kind: "KafkaSource", GroupVersion: "sources.knative.dev/v1"}
	egress := dpEgress{
		ConsumerGroup: cfg.Group, Destination: cfg.Sink, UID: uid,
		EgressConfig: dpEgressConfig{DeadLetter: cfg.DeadLetterSink, Retry: d.Retry, BackoffPolicy: policy,
			BackoffDelay: millis(d.Delay.Milliseconds(), 200), Timeout: millis(d.Timeout.Milliseconds(), 0)},
		DeliveryOrder: order, Reference: ref, VReplicas: vReplicas,
		FeatureFlags: map[string]bool{"enableRateLimiter": false, "enableOrderedExecutorMetrics": false},
	}
	if cfg.Token != nil {
		// With authentication-oidc on, the KafkaSource's OIDC service account
		// (source.go: ks.Status.Auth.ServiceAccountName) asks for tokens for
		// the sink's and the dead-letter sink's own audiences.
		egress.OIDCServiceAccountName = sourceServiceAccount
		egress.DestinationAudience = cfg.SinkAudience()
		if cfg.DeadLetterSink != "" {
			egress.EgressConfig.DeadLetterAudience = DeadLetterAudience(cfg.Namespace)
		}
	}
	return dpResource{
		UID: uid, Topics: []string{cfg.Topic}, BootstrapServers: strings.Join(cfg.Brokers, ","),
		Egresses: []dpEgress{egress}, MultiAuthSecret: &dpMultiAuth{Protocol: "PLAINTEXT"},
		Reference: ref, FeatureFlags: map[string]bool{"enableEventTypeAutocreate": false},
	}
}

// millis is ms as the contract's string, or def when ms is 0 (unset).
func millis(ms, def int64) string {
	if ms == 0 {
		ms = def
	}
	return strconv.FormatInt(ms, 10)
}

// writeContract writes the resources as the contract file in dir.
func writeContract(t testing.TB, dir string, resources ...dpResource) string {
	t.Helper()
	raw, err := json.MarshalIndent(dpContract{Generation: "1", Resources: resources}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "contract.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dataPlaneProperties writes the .properties files of the data plane's
// ConfigMap (data-plane/config/{sink,source}/100-config-kafka-*-data-plane.yaml
// as shipped, copied next to the jars by hack/dataplane.sh) into dir, with
// the values of override replacing or adding lines, and returns their paths
// by key (e.g. "config-kafka-source-consumer.properties").
func dataPlaneProperties(t testing.TB, dir, configMap string, override map[string]map[string]string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataPlaneDir(), "config", configMap))
	if err != nil {
		t.Fatalf("data plane ConfigMap: %v (run hack/dataplane.sh build)", err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatalf("%s: %v", configMap, err)
	}
	paths := map[string]string{}
	for key, text := range cm.Data {
		if !strings.HasSuffix(key, ".properties") {
			continue
		}
		for k, v := range override[key] {
			text += fmt.Sprintf("\n%s=%s\n", k, v)
		}
		paths[key] = filepath.Join(dir, key)
		if err := os.WriteFile(paths[key], []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for key := range override {
		if paths[key] == "" {
			t.Fatalf("%s has no %s to override", configMap, key)
		}
	}
	return paths
}
