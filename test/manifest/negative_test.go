package manifest

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// mutated returns a deep copy of ms in which the manifest of kind and name
// has been changed by edit.
func mutated(t *testing.T, ms []manifest, kind, name string, edit func(obj map[string]any)) []manifest {
	t.Helper()
	out := make([]manifest, len(ms))
	found := false
	for i, m := range ms {
		out[i] = manifest{source: m.source, obj: runtime.DeepCopyJSON(m.obj)}
		if m.kind() == kind && m.name() == name {
			edit(out[i].obj)
			found = true
		}
	}
	if !found {
		t.Fatalf("mutate: got no %s %s, want it in the shipped manifests", kind, name)
	}
	return out
}

// at returns the object at a path of keys and list indexes inside obj.
func at(obj map[string]any, path ...any) map[string]any {
	var cur any = obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	return cur.(map[string]any)
}

// container returns the first container of a Knative Service.
func container(obj map[string]any) map[string]any {
	return at(obj, "spec", "template", "spec", "containers", 0)
}

// brokenManifests are single-document mistakes the validator must catch.
var brokenManifests = []struct {
	name, kind, object string
	edit               func(map[string]any)
	want               string
}{
	{"kafkasink_unknown_field_rejected", "KafkaSink", "purchases", func(o map[string]any) { at(o, "spec")["partitions"] = int64(3) }, "unknown field"},
	{"kafkasink_missing_topic_rejected", "KafkaSink", "purchases", func(o map[string]any) { delete(at(o, "spec"), "topic") }, "Required value"},
	{"kafkasink_bad_content_mode_rejected", "KafkaSink", "purchases", func(o map[string]any) { at(o, "spec")["contentMode"] = "json" }, "Unsupported value"},
	{"kafkasink_zero_partitions_rejected", "KafkaSink", "purchases", func(o map[string]any) { at(o, "spec")["numPartitions"] = int64(0) }, "numPartitions"},
	{"kafkasource_unserved_version_rejected", "KafkaSource", "cm-api-purchases", func(o map[string]any) { o["apiVersion"] = "sources.knative.dev/v1alpha1" }, "not served"},
	{"kafkasource_typo_in_delivery_rejected", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec", "delivery")["retries"] = int64(3) }, "unknown field"},
	{"kafkasource_bad_initial_offset_rejected", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec")["initialOffset"] = "newest" }, "initialOffset"},
	{"kafkasource_bad_ordering_rejected", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec")["ordering"] = "random" }, "ordering"},
	{"kafkasource_bad_backoff_delay_rejected", "KafkaSource", "cm-api-purchases", func(o map[string]any) { at(o, "spec", "delivery")["backoffDelay"] = "500ms" }, "backoffDelay"},
	{"kafkasource_sink_without_name_rejected", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec", "sink", "ref"), "name") }, "name"},
	{"ksvc_unknown_container_field_rejected", "Service", "cm-api", func(o map[string]any) { container(o)["imagePullSecret"] = "x" }, "unknown field"},
	{"ksvc_unset_privilege_escalation_warned", "Service", "cm-server", func(o map[string]any) { delete(at(container(o), "securityContext"), "allowPrivilegeEscalation") }, "allowPrivilegeEscalation"},
	{"ksvc_missing_seccomp_warned", "Service", "cm-server", func(o map[string]any) { delete(at(container(o), "securityContext"), "seccompProfile") }, "seccompProfile"},
	{"ksvc_negative_min_scale_rejected", "Service", "cm-api", func(o map[string]any) {
		at(o, "spec", "template", "metadata", "annotations")["autoscaling.knative.dev/min-scale"] = "-1"
	}, "min-scale"},
	{"ksvc_zero_initial_scale_rejected", "Service", "cm-api", func(o map[string]any) {
		at(o, "spec", "template", "metadata", "annotations")["autoscaling.knative.dev/initial-scale"] = "0"
	}, "initial-scale"},
	{"ksvc_hard_coded_namespace_rejected", "Service", "cm-api", func(o map[string]any) { at(o, "metadata")["namespace"] = "default" }, "namespace"},
	{"sinkbinding_subject_without_kind_rejected", "SinkBinding", "cm-server-purchases", func(o map[string]any) { delete(at(o, "spec", "subject"), "kind") }, "kind"},
	{"sinkbinding_unknown_field_rejected", "SinkBinding", "cm-server-purchases", func(o map[string]any) { at(o, "spec")["target"] = "cm-server" }, "unknown field"},
	{"configmap_unknown_field_rejected", "ConfigMap", "cm-api-config", func(o map[string]any) { o["datas"] = map[string]any{} }, "unknown field"},
	{"secret_rejected", "ConfigMap", "cm-api-config", func(o map[string]any) { o["kind"] = "Secret" }, "Secret"},
	{"unknown_kind_rejected", "ConfigMap", "cm-api-config", func(o map[string]any) { o["apiVersion"] = "example.com/v1"; o["kind"] = "Widget" }, "no schema"},
}

// TestValidator_rejectsBrokenManifests proves each check bites: a broken
// copy of a shipped manifest must fail with the expected message.
func TestValidator_rejectsBrokenManifests(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	shipped := shippedManifests(t)
	for _, tt := range brokenManifests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, m := range mutated(t, shipped, tt.kind, tt.object, tt.edit) {
				if m.name() != tt.object || m.kind() != tt.kind {
					continue
				}
				err := v.validate(m)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("validate broken %s: got %v, want an error mentioning %q", tt.object, err, tt.want)
				}
			}
		})
	}
}

// strimziKafka and mongoCommunity are minimal valid resources to break.
const strimziKafka = `
apiVersion: kafka.strimzi.io/v1
kind: Kafka
metadata:
  name: my-cluster
spec:
  kafka:
    listeners:
      - {name: plain, port: 9092, type: internal, tls: false}
`

const mongoCommunity = `
apiVersion: mongodbcommunity.mongodb.com/v1
kind: MongoDBCommunity
metadata:
  name: shop-mongodb
spec:
  type: ReplicaSet
  members: 3
  version: "8.0.10"
  security: {authentication: {modes: [SCRAM]}}
  users:
    - {name: cm-api, db: admin, passwordSecretRef: {name: pw}, roles: [{name: readWrite, db: shop}], scramCredentialsSecretName: s}
`

// TestValidator_rejectsBrokenDependencies covers the Strimzi and MongoDB
// schemas, including a CEL rule of the Kafka CRD.
func TestValidator_rejectsBrokenDependencies(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tests := []struct {
		name, doc string
		edit      func(map[string]any)
		want      string // "" = valid
	}{
		{"kafka_valid", strimziKafka, func(map[string]any) {}, ""},
		{"kafka_zookeeper_rejected", strimziKafka, func(o map[string]any) { at(o, "spec")["zookeeper"] = map[string]any{"replicas": int64(3)} }, "unknown field"},
		{"kafka_listener_without_tls_rejected", strimziKafka, func(o map[string]any) { delete(at(o, "spec", "kafka", "listeners", 0), "tls") }, "Required value"},
		{"kafka_cel_metrics_without_value_from_rejected", strimziKafka, func(o map[string]any) {
			at(o, "spec", "kafka")["metricsConfig"] = map[string]any{"type": "jmxPrometheusExporter"}
		}, "valueFrom property is required"},
		{"mongodb_valid", mongoCommunity, func(map[string]any) {}, ""},
		{"mongodb_sharded_rejected", mongoCommunity, func(o map[string]any) { at(o, "spec")["type"] = "Sharded" }, "Unsupported value"},
		{"mongodb_user_without_roles_rejected", mongoCommunity, func(o map[string]any) { delete(at(o, "spec", "users", 0), "roles") }, "Required value"},
		{"mongodb_bad_name_rejected", mongoCommunity, func(o map[string]any) { at(o, "metadata")["name"] = "Shop_Mongo" }, "metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, err := parseManifests(tt.name, []byte(tt.doc))
			if err != nil || len(ms) != 1 {
				t.Fatalf("parse: got %v (%d docs), want one document", err, len(ms))
			}
			tt.edit(ms[0].obj)
			err = v.validate(ms[0])
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate: got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate: got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
