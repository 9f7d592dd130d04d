package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// topicsDir holds the Strimzi KafkaTopics of the ko path. `-f eventing/` is
// not recursive, so neither `ko apply` nor `kubectl delete -f eventing/`
// touches it: deleting the app never deletes a topic.
const topicsDir = "eventing/topics"

// kafkaNamespace and kafkaCluster are where config/ and eventing/ expect the
// Strimzi cluster: my-cluster-kafka-bootstrap.kafka:9092.
const (
	kafkaNamespace = "kafka"
	kafkaCluster   = "my-cluster"
)

// shippedWithTopics is the ko path as a whole: config/, eventing/ and the
// topics applied beside them.
func shippedWithTopics(t testing.TB) []manifest {
	t.Helper()
	return append(shippedManifests(t), loadDir(t, topicsDir)...)
}

// checkShippedTopics: every KafkaSink's topic has a KafkaTopic of the cluster
// the sinks talk to, in that cluster's namespace (the one Strimzi's topic
// operator watches), and the folder holds nothing but KafkaTopics.
func checkShippedTopics(topicManifests, shipped []manifest) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	topics := map[string]bool{}
	for _, m := range topicManifests {
		if m.apiVersion() != strimziAPI || m.kind() != "KafkaTopic" {
			fail("%s: got a %s in %s, want only KafkaTopics", m, m.kind(), topicsDir)
			continue
		}
		if ns := str(m, "metadata", "namespace"); ns != kafkaNamespace || labels(m)["strimzi.io/cluster"] != kafkaCluster {
			fail("%s: got namespace %q cluster %q, want %q and %q (the cluster the sinks talk to)", m, ns, labels(m)["strimzi.io/cluster"], kafkaNamespace, kafkaCluster)
		}
		topics[str(m, "spec", "topicName")] = true
	}
	want := fmt.Sprintf("%s-kafka-bootstrap.%s:9092", kafkaCluster, kafkaNamespace)
	for _, sink := range bundle(shipped).all(kafkaSinkAPI, "KafkaSink") {
		if got := strs(sink, "spec", "bootstrapServers"); len(got) != 1 || got[0] != want {
			fail("%s bootstrapServers: got %v, want [%s]", sink, got, want)
		}
		if !topics[str(sink, "spec", "topic")] {
			fail("%s: got no KafkaTopic in %s for topic %q, want one", sink, topicsDir, str(sink, "spec", "topic"))
		}
	}
	return errs
}

// TestShippedTopics_validAndCoverEverySink validates eventing/topics/ like the
// API server would and checks it creates every topic the sinks write to.
func TestShippedTopics_validAndCoverEverySink(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	topics := loadDir(t, topicsDir)
	for _, m := range topics {
		if err := v.validate(m); err != nil {
			t.Errorf("validate: got %v, want no error", err)
		}
	}
	for _, err := range checkShippedTopics(topics, shippedManifests(t)) {
		t.Errorf("topics: got %v, want none", err)
	}
}

// TestShippedTopics_matchChart: the ko path's topics are the ones the chart
// renders with strimzi.enabled (same names, partitions and replicas).
func TestShippedTopics_matchChart(t *testing.T) {
	t.Parallel()
	rendered, err := helmTemplate(t, "strimzi.enabled=true")
	if err != nil {
		t.Fatalf("helm template: got %v, want success", err)
	}
	for _, m := range loadDir(t, topicsDir) {
		r, ok := bundle(rendered).get(m.apiVersion(), m.kind(), m.name())
		if !ok {
			t.Errorf("chart: got no %s, want the KafkaTopic %s ships", resourceKey(m), topicsDir)
			continue
		}
		for _, diff := range diffValues("spec", r.obj["spec"], m.obj["spec"]) {
			t.Errorf("chart vs %s: %s", m.source, diff)
		}
	}
}

// TestStrimziWiring_catchesTopicDangers proves the Strimzi checks bite: a
// broker that auto-creates topics, or a Strimzi resource Helm would delete on
// uninstall (and with it the topic or the cluster).
func TestStrimziWiring_catchesTopicDangers(t *testing.T) {
	t.Parallel()
	rendered, err := helmTemplate(t, "strimzi.enabled=true")
	if err != nil {
		t.Fatalf("helm template: got %v, want success", err)
	}
	config := func(o map[string]any) map[string]any { return at(o, "spec", "kafka", "config") }
	tests := []struct {
		name, kind, object string
		edit               func(map[string]any)
		want               string
	}{
		{"auto_create_unset", "Kafka", "my-cluster", func(o map[string]any) { delete(config(o), "auto.create.topics.enable") }, "auto.create.topics.enable"},
		{"auto_create_true", "Kafka", "my-cluster", func(o map[string]any) { config(o)["auto.create.topics.enable"] = true }, "auto.create.topics.enable"},
		{"topic_deleted_on_uninstall", "KafkaTopic", "purchases", func(o map[string]any) { delete(at(o, "metadata"), "annotations") }, "resource-policy"},
		{"cluster_deleted_on_uninstall", "Kafka", "my-cluster", func(o map[string]any) { delete(at(o, "metadata"), "annotations") }, "resource-policy"},
	}
	if errs := checkStrimziWiring(bundle(rendered)); len(errs) > 0 {
		t.Fatalf("unbroken: got %v, want none", errs)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := errors.Join(checkStrimziWiring(bundle(mutated(t, rendered, tt.kind, tt.object, tt.edit)))...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checks: got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
