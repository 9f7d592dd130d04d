package manifest

import (
	"errors"
	"strings"
	"testing"
)

// brokenWiring are edits that keep every manifest valid on its own but break
// the links between them, or the deployment rules.
var brokenWiring = []struct {
	name, kind, object string
	edit               func(map[string]any)
	want               string
}{
	{"kafkasource_reads_other_topic", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec")["topics"] = []any{"orders"} }, "topics"},
	{"kafkasource_delivers_to_cm_server", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec", "sink", "ref")["name"] = "cm-server" }, "cm-api"},
	{"kafkasource_without_dead_letter_sink", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec", "delivery"), "deadLetterSink") }, "deadLetterSink"},
	{"kafkasource_without_retries", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec", "delivery"), "retry") }, "retry"},
	{"kafkasource_without_delivery", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec"), "delivery") }, "delivery"},
	{"kafkasource_ordering_unset", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec"), "ordering") }, "ordering"},
	{"kafkasource_more_consumers_than_partitions", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
		at(o, "metadata", "annotations")["autoscaling.eventing.knative.dev/max-scale"] = "20"
	}, "partitions"},
	{"kafkasource_retry_budget_31s", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
		at(o, "spec", "delivery")["retry"] = int64(5)
		at(o, "spec", "delivery")["backoffPolicy"] = "exponential"
	}, "retry budget"},
	{"kafkasource_retry_budget_linear_too_short", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec", "delivery")["retry"] = int64(100) }, "retry budget"},
	{"kafkasource_keda_class_dropped", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
		delete(at(o, "metadata", "annotations"), "autoscaling.eventing.knative.dev/class")
	}, "disabled to keep KEDA off"},
	{"kafkasource_no_annotations_keda_defaults", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "metadata"), "annotations") }, "class"},
	{"kafkasource_keda_disabled_with_max_scale", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
		at(o, "metadata", "annotations")["autoscaling.eventing.knative.dev/class"] = "disabled"
	}, "class disabled"},
	{"kafkasink_owns_its_topic", "KafkaSink", "purchases", func(o map[string]any) {
		at(o, "spec")["numPartitions"] = int64(10)
		at(o, "spec")["replicationFactor"] = int64(3)
	}, "spec.numPartitions"},
	{"dlq_sink_replication_factor", "KafkaSink", "purchases-dlq", func(o map[string]any) { at(o, "spec")["replicationFactor"] = int64(3) }, "spec.replicationFactor"},
	{"dead_letters_into_purchases_topic", "KafkaSink", "purchases-dlq", func(o map[string]any) { at(o, "spec")["topic"] = "purchases" }, "deadLetterSink"},
	{"purchases_sink_structured", "KafkaSink", "purchases", func(o map[string]any) { at(o, "spec")["contentMode"] = "structured" }, "binary"},
	{"sinkbinding_binds_cm_api", "SinkBinding", "cm-server-purchases", func(o map[string]any) { at(o, "spec", "subject")["name"] = "cm-api" }, "subject"},
	{"sinkbinding_sink_missing", "SinkBinding", "cm-server-purchases", func(o map[string]any) { at(o, "spec", "sink", "ref")["name"] = "orders" }, "sink"},
	{"cm_api_public", "Service", "cm-api", func(o map[string]any) { delete(at(o, "metadata", "labels"), "networking.knative.dev/visibility") }, "cluster-local"},
	{"cm_api_url_other_namespace", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["CM_API_URL"] = "http://cm-api.default.svc.cluster.local" }, "CM_API_URL"},
	{"cm_server_other_topic", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["KAFKA_TOPIC"] = "orders" }, "cm-server-config"},
	{"cm_api_kafka_mode_in_knative", "ConfigMap", "cm-api-config", func(o map[string]any) { at(o, "data")["KAFKA_BROKERS"] = "kafka:9092" }, "KAFKA_BROKERS"},
	{"mongodb_uri_literal", "Service", "cm-api", func(o map[string]any) {
		at(container(o), "env", 0)["valueFrom"] = nil
		at(container(o), "env", 0)["value"] = "mongodb://mongo:27017"
	}, "secretKeyRef"},
	{"credentials_in_configmap", "ConfigMap", "cm-api-config", func(o map[string]any) { at(o, "data")["MONGO"] = "mongodb://shop:hunter2@mongo:27017" }, "credentials"},
	{"privilege_escalation_allowed", "Service", "cm-server", func(o map[string]any) { at(container(o), "securityContext")["allowPrivilegeEscalation"] = true }, "securityContext"},
	{"no_limits", "Service", "cm-server", func(o map[string]any) { delete(at(container(o), "resources"), "limits") }, "resources"},
	{"liveness_on_readyz", "Service", "cm-server", func(o map[string]any) { at(container(o), "livenessProbe", "httpGet")["path"] = "/readyz" }, "livenessProbe"},
	{"no_scale_to_zero", "Service", "cm-server", func(o map[string]any) {
		at(o, "spec", "template", "metadata", "annotations")["autoscaling.knative.dev/min-scale"] = "1"
	}, "scale to zero"},
}

// TestChecks_catchBrokenWiringAndPolicy proves the wiring and policy checks
// bite on edits that the per-document validation lets through.
func TestChecks_catchBrokenWiringAndPolicy(t *testing.T) {
	t.Parallel()
	shipped := shippedWithTopics(t)
	for _, tt := range brokenWiring {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms := mutated(t, shipped, tt.kind, tt.object, tt.edit)
			err := errors.Join(append(checkWiring(ms, "knative"), checkPolicy(ms)...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checks: got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
