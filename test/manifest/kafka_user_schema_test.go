package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kafkaUserKind is Strimzi's KafkaUser. The shared CRDs may lack its CRD
// (strimzi-kafkauser.yaml): then the validator falls back to
// validateKafkaUserShape, and TestKafkaUserSchema says so.
var kafkaUserKind = schema.GroupKind{Group: "kafka.strimzi.io", Kind: "KafkaUser"}

// shape is the part of an OpenAPI schema the fallback needs: types, known
// fields, required fields and enums.
type shape struct {
	typ      string // object, array, string, boolean, integer
	props    map[string]*shape
	required []string
	enum     []string
	items    *shape
}

func obj(props map[string]*shape, required ...string) *shape {
	return &shape{typ: "object", props: props, required: required}
}

func strEnum(values ...string) *shape { return &shape{typ: "string", enum: values} }

// kafkaUserSpec is KafkaUser v1's spec as the upstream CRD defines it
// (strimzi/strimzi-kafka-operator packaging/install/cluster-operator/
// 044-Crd-kafkauser.yaml, read at commit 0f01f49, a 1.x tree that serves v1
// only, as 1.2.0 does): authentication (type required; password.valueFrom
// required, a secretKeyRef), authorization (type simple and acls required;
// each rule's resource and operations required), quotas and template.
var kafkaUserSpec = obj(map[string]*shape{
	"userName": {typ: "string"},
	"authentication": obj(map[string]*shape{
		"type": strEnum("tls", "tls-external", "scram-sha-512"),
		"password": obj(map[string]*shape{
			"valueFrom": obj(map[string]*shape{
				"secretKeyRef": obj(map[string]*shape{"key": {typ: "string"}, "name": {typ: "string"}, "optional": {typ: "boolean"}}),
			}),
		}, "valueFrom"),
	}, "type"),
	"authorization": obj(map[string]*shape{
		"type": strEnum("simple"),
		"acls": {typ: "array", items: obj(map[string]*shape{
			"type": strEnum("allow", "deny"),
			"resource": obj(map[string]*shape{
				"name":        {typ: "string"},
				"patternType": strEnum("literal", "prefix"),
				"type":        strEnum("topic", "group", "cluster", "transactionalId"),
			}, "type"),
			"host": {typ: "string"},
			"operations": {typ: "array", items: strEnum("Read", "Write", "Create", "Delete", "Alter", "Describe",
				"ClusterAction", "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All")},
		}, "resource", "operations")},
	}, "acls", "type"),
	"quotas": obj(map[string]*shape{"producerByteRate": {typ: "integer"}, "consumerByteRate": {typ: "integer"},
		"requestPercentage": {typ: "integer"}, "controllerMutationRate": {typ: "number"}}),
	"template": {typ: "object"},
})

// check returns every mismatch of v against s, at path.
func (s *shape) check(path string, v any) []error {
	var errs []error
	switch s.typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []error{fmt.Errorf("%s: got %T, want an object", path, v)}
		}
		for _, r := range s.required {
			if _, ok := m[r]; !ok {
				errs = append(errs, fmt.Errorf("%s.%s: Required value", path, r))
			}
		}
		if s.props == nil {
			return errs
		}
		names := keys(m)
		for _, k := range names {
			sub, ok := s.props[k]
			if !ok {
				errs = append(errs, fmt.Errorf("%s.%s: unknown field", path, k))
				continue
			}
			errs = append(errs, sub.check(path+"."+k, m[k])...)
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			return []error{fmt.Errorf("%s: got %T, want an array", path, v)}
		}
		for i, x := range l {
			errs = append(errs, s.items.check(fmt.Sprintf("%s[%d]", path, i), x)...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return []error{fmt.Errorf("%s: got %T, want a string", path, v)}
		}
		if len(s.enum) > 0 && !slices.Contains(s.enum, str) {
			errs = append(errs, fmt.Errorf("%s: Unsupported value %q, want one of %v", path, str, s.enum))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			errs = append(errs, fmt.Errorf("%s: got %T, want a boolean", path, v))
		}
	case "integer", "number":
		switch v.(type) {
		case int64, float64, int:
		default:
			errs = append(errs, fmt.Errorf("%s: got %T, want a number", path, v))
		}
	}
	return errs
}

// validateKafkaUserShape checks a KafkaUser without its CRD: served version
// v1 (Strimzi 1.x serves only v1; v1beta2 is gone), metadata as the API server
// checks it, and the spec against kafkaUserSpec.
func validateKafkaUserShape(m manifest) error {
	if m.apiVersion() != "kafka.strimzi.io/v1" {
		return fmt.Errorf("%s: apiVersion %s, want kafka.strimzi.io/v1 (Strimzi 1.x serves only v1)", m, m.apiVersion())
	}
	obj := runtime.DeepCopyJSON(m.obj)
	var errs []error
	for _, e := range validateCRMeta(obj) {
		errs = append(errs, e)
	}
	for _, k := range keys(obj) {
		if !slices.Contains([]string{"apiVersion", "kind", "metadata", "spec"}, k) {
			errs = append(errs, fmt.Errorf("%s: unknown field", k))
		}
	}
	spec, ok := obj["spec"]
	if !ok {
		errs = append(errs, errors.New("spec: Required value"))
	} else {
		errs = append(errs, kafkaUserSpec.check("spec", spec)...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", m, errors.Join(errs...))
	}
	return nil
}

// TestKafkaUserSchema: the chart's KafkaUsers are valid. Against the upstream
// CRD when the shared CRDs have it (strimzi-kafkauser.yaml); otherwise that
// schema check is skipped, said in the log, and the fallback shape check
// runs, which this test also proves rejects the mistakes it is there for.
func TestKafkaUserSchema(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	if _, ok := v.crds[kafkaUserKind]; ok {
		t.Logf("KafkaUser: validated against %s", filepath.Join(crdsDir(t), "strimzi-kafkauser.yaml"))
	} else {
		_, err := os.Stat(filepath.Join(crdsDir(t), "strimzi-kafkauser.yaml"))
		t.Logf("NOTE: no KafkaUser CRD in the shared CRDs (%v): the schema check against the upstream CRD is SKIPPED; "+
			"KafkaUsers are checked by validateKafkaUserShape, written from the upstream 044-Crd-kafkauser.yaml", err)
	}
	for _, mode := range []string{"knative", "kubernetes"} {
		ms, err := helmTemplate(t, "strimzi.enabled=true", "mode="+mode)
		if err != nil {
			t.Fatalf("helm template: got %v, want success", err)
		}
		users := bundle(ms).all(strimziAPI, "KafkaUser")
		if len(users) != 3 {
			t.Errorf("%s mode KafkaUsers: got %d, want 3", mode, len(users))
		}
		for _, u := range users {
			if err := v.validate(u); err != nil {
				t.Errorf("%s mode: validate: got %v, want no error", mode, err)
			}
			if err := validateKafkaUserShape(u); err != nil {
				t.Errorf("%s mode: shape: got %v, want no error", mode, err)
			}
		}
	}
	ms, err := helmTemplate(t, "strimzi.enabled=true")
	if err != nil {
		t.Fatalf("helm template: got %v, want success", err)
	}
	acl0 := func(o map[string]any) map[string]any { return at(o, "spec", "authorization", "acls", 0) }
	tests := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"v1beta2_refused", func(o map[string]any) { o["apiVersion"] = "kafka.strimzi.io/v1beta2" }, "v1"},
		{"singular_operation_refused", func(o map[string]any) { acl0(o)["operation"] = "Write" }, "unknown field"},
		{"operations_required", func(o map[string]any) { delete(acl0(o), "operations") }, "Required value"},
		{"unknown_operation", func(o map[string]any) { acl0(o)["operations"] = []any{"Produce"} }, "Unsupported value"},
		{"unknown_resource_type", func(o map[string]any) { at(acl0(o), "resource")["type"] = "topics" }, "Unsupported value"},
		{"password_without_value_from", func(o map[string]any) {
			at(o, "spec", "authentication")["password"] = map[string]any{"secretKeyRef": map[string]any{"name": "x", "key": "password"}}
		}, "valueFrom"},
		{"authorization_without_type", func(o map[string]any) { delete(at(o, "spec", "authorization"), "type") }, "Required value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			for _, m := range mutated(t, ms, "KafkaUser", "purchases-sink", tt.edit) {
				if m.kind() == "KafkaUser" && m.name() == "purchases-sink" {
					err = v.validate(m)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validate: got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
