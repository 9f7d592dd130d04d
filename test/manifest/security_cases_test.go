package manifest

import (
	"errors"
	"strings"
	"testing"
)

// TestShippedManifests_secureByDefault: config/ turns authentication and the
// rate limit on and sets only variables the functions read.
func TestShippedManifests_secureByDefault(t *testing.T) {
	t.Parallel()
	ms := shippedManifests(t)
	for _, err := range append(checkSecureDefaults(ms), checkEnvKnown(t, ms)...) {
		t.Errorf("got %v, want none", err)
	}
}

// securityBreak is an edit that must make the checks fail.
type securityBreak struct {
	name, kind, object string
	edit               func(map[string]any)
	want               string
}

// envList returns the env list of the first container.
func envList(o map[string]any) []any {
	l, _ := container(o)["env"].([]any)
	return l
}

// envEntry returns the env entry called name of the first container.
func envEntry(o map[string]any, name string) map[string]any {
	for _, e := range envList(o) {
		if e.(map[string]any)["name"] == name {
			return e.(map[string]any)
		}
	}
	panic("no env " + name)
}

// shippedSecurityBreaks break config/ and eventing/.
var shippedSecurityBreaks = []securityBreak{
	{"api_keys_literal", "Service", "cm-server", func(o map[string]any) {
		e := envEntry(o, "API_KEYS")
		delete(e, "valueFrom")
		e["value"] = "0123456789abcdef0123456789abcdef"
	}, "API_KEYS"},
	{"api_keys_optional", "Service", "cm-server", func(o map[string]any) {
		at(envEntry(o, "API_KEYS"), "valueFrom", "secretKeyRef")["optional"] = true
	}, "optional"},
	{"api_keys_missing", "Service", "cm-server", func(o map[string]any) { delete(container(o), "env") }, "API_KEYS"},
	{"api_keys_in_configmap", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["API_KEYS"] = "0123456789abcdef" }, "ConfigMap"},
	{"kafka_password_in_configmap", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["KAFKA_SASL_PASSWORD"] = "hunter2" }, "KAFKA_SASL_PASSWORD"},
	{"secrets_through_env_from", "Service", "cm-api", func(o map[string]any) {
		container(o)["envFrom"] = append(container(o)["envFrom"].([]any), map[string]any{"secretRef": map[string]any{"name": "everything"}})
	}, "envFrom"},
	{"rate_limit_off", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["BUY_RATE_LIMIT"] = "0" }, "BUY_RATE_LIMIT"},
	{"forwarded_for_ignored_behind_knative", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["FORWARDED_FOR_HOPS"] = "0" }, "FORWARDED_FOR_HOPS"},
	{"request_rate_limit_off", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["REQUEST_RATE_LIMIT"] = "0" }, "REQUEST_RATE_LIMIT"},
	{"misspelt_variable", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["BUY_RATE_LIMITS"] = "20" }, "BUY_RATE_LIMITS"},
	{"kafka_sink_auth_without_function_auth", "KafkaSink", "purchases", func(o map[string]any) {
		at(o, "spec")["auth"] = map[string]any{"secret": map[string]any{"ref": map[string]any{"name": "kafka-auth"}}}
	}, "spec.auth"},
	{"mongodb_password_without_user", "Service", "cm-api", func(o map[string]any) {
		c := container(o)
		c["env"] = append(c["env"].([]any), map[string]any{"name": "MONGODB_PASSWORD", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "m", "key": "password"}}})
	}, "MONGODB_USERNAME"},
}

// TestChecks_catchBrokenSecurity proves the secret, default and Kafka auth
// checks bite: on config/, on the chart with SCRAM over TLS in knative mode,
// and in kubernetes mode.
func TestChecks_catchBrokenSecurity(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, ms []manifest, mode string) error {
		errs := append(checkWiring(ms, mode), checkPolicy(ms)...)
		errs = append(errs, checkSecureDefaults(ms)...)
		return errors.Join(append(errs, checkEnvKnown(t, ms)...)...)
	}
	run := func(t *testing.T, base []manifest, mode string, breaks []securityBreak) {
		if err := check(t, base, mode); err != nil {
			t.Fatalf("unbroken: got %v, want no error", err)
		}
		for _, tt := range breaks {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				err := check(t, mutated(t, base, tt.kind, tt.object, tt.edit), mode)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("checks: got %v, want an error mentioning %q", err, tt.want)
				}
			})
		}
	}
	t.Run("shipped", func(t *testing.T) {
		t.Parallel()
		run(t, shippedManifests(t), "knative", shippedSecurityBreaks)
	})
	t.Run("chart_knative_kafka_auth", func(t *testing.T) {
		t.Parallel()
		ms, err := helmTemplate(t, kafkaAuthValues...)
		if err != nil {
			t.Fatalf("helm template: got %v, want success", err)
		}
		run(t, ms, "knative", knativeKafkaAuthBreaks)
	})
	t.Run("chart_kubernetes_kafka_auth", func(t *testing.T) {
		t.Parallel()
		ms, err := helmTemplate(t, append([]string{"mode=kubernetes"}, kafkaAuthValues...)...)
		if err != nil {
			t.Fatalf("helm template: got %v, want success", err)
		}
		run(t, ms, "kubernetes", kubernetesKafkaAuthBreaks)
	})
}

// knativeKafkaAuthBreaks break the chart rendered with kafkaAuthValues.
var knativeKafkaAuthBreaks = []securityBreak{
	{"sink_without_auth", "KafkaSink", "purchases-dlq", func(o map[string]any) { delete(at(o, "spec"), "auth") }, "spec.auth"},
	{"sinks_with_different_secrets", "KafkaSink", "purchases-dlq", func(o map[string]any) { at(o, "spec", "auth", "secret", "ref")["name"] = "other" }, "want one"},
	{"source_without_sasl", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec", "net"), "sasl") }, "sasl.enable"},
	{"source_password_from_other_secret", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
		at(o, "spec", "net", "sasl", "password", "secretKeyRef")["name"] = "other"
	}, "password"},
	{"source_without_mechanism", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec", "net", "sasl"), "type") }, "secretKeyRefs"},
	{"source_without_ca", "KafkaSource", "cm-api-purchases", func(o map[string]any) { delete(at(o, "spec", "net", "tls"), "caCert") }, "caCert"},
	{"password_literal", "Service", "cm-server", func(o map[string]any) {
		e := envEntry(o, "KAFKA_SASL_PASSWORD")
		delete(e, "valueFrom")
		e["value"] = "hunter2"
	}, "KAFKA_SASL_PASSWORD"},
	{"ca_volume_writable", "Service", "cm-server", func(o map[string]any) { at(container(o), "volumeMounts", 0)["readOnly"] = false }, "readOnly"},
	{"ca_file_not_mounted", "Service", "cm-server", func(o map[string]any) { delete(container(o), "volumeMounts") }, "KAFKA_TLS_CA_FILE"},
	{"unknown_mechanism", "ConfigMap", "cm-server-config", func(o map[string]any) { at(o, "data")["KAFKA_SASL_MECHANISM"] = "GSSAPI" }, "KAFKA_SASL_MECHANISM"},
	{"cm_api_with_kafka_credentials", "ConfigMap", "cm-api-config", func(o map[string]any) { at(o, "data")["KAFKA_TLS"] = "true" }, "Knative mode"},
}

// kubernetesKafkaAuthBreaks break the kubernetes-mode chart with kafkaAuthValues.
var kubernetesKafkaAuthBreaks = []securityBreak{
	{"cm_api_other_user", "ConfigMap", "cm-api-config", func(o map[string]any) { at(o, "data")["KAFKA_SASL_USERNAME"] = "other" }, "cm-server's"},
	{"scaler_without_tls", "ScaledObject", "cm-api", func(o map[string]any) { delete(at(o, "spec", "triggers", 0, "metadata"), "tls") }, "tls"},
	{"scaler_other_mechanism", "ScaledObject", "cm-api", func(o map[string]any) { at(o, "spec", "triggers", 0, "metadata")["sasl"] = "plaintext" }, "sasl"},
	{"scaler_without_credentials", "ScaledObject", "cm-api", func(o map[string]any) { delete(at(o, "spec", "triggers", 0), "authenticationRef") }, "authenticationRef"},
	{"scaler_password_from_other_secret", "TriggerAuthentication", "cm-api-kafka", func(o map[string]any) {
		at(o, "spec", "secretTargetRef", 0)["name"] = "other"
	}, "parameters"},
}

// TestValidator_rejectsBrokenSecurityResources covers the CRD schemas of the
// Kafka auth fields and the KEDA TriggerAuthentication validator.
func TestValidator_rejectsBrokenSecurityResources(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	knative, err := helmTemplate(t, kafkaAuthValues...)
	if err != nil {
		t.Fatalf("helm template: got %v, want success", err)
	}
	kubernetes, err := helmTemplate(t, append([]string{"mode=kubernetes"}, kafkaAuthValues...)...)
	if err != nil {
		t.Fatalf("helm template: got %v, want success", err)
	}
	tests := []struct {
		name string
		ms   []manifest
		securityBreak
	}{
		{"sink_secret_ref_without_name", knative, securityBreak{"", "KafkaSink", "purchases", func(o map[string]any) {
			delete(at(o, "spec", "auth", "secret", "ref"), "name")
		}, "Required value"}},
		{"sink_secret_inline", knative, securityBreak{"", "KafkaSink", "purchases", func(o map[string]any) {
			at(o, "spec", "auth", "secret")["password"] = "hunter2"
		}, "unknown field"}},
		{"source_sasl_user_literal", knative, securityBreak{"", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
			at(o, "spec", "net", "sasl")["user"] = "shop"
		}, "user"}},
		{"source_secret_ref_without_key", knative, securityBreak{"", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
			delete(at(o, "spec", "net", "sasl", "password", "secretKeyRef"), "key")
		}, "Required value"}},
		{"source_tls_enable_not_boolean", knative, securityBreak{"", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
			at(o, "spec", "net", "tls")["enable"] = "yes"
		}, "enable"}},
		{"trigger_auth_unknown_parameter", kubernetes, securityBreak{"", "TriggerAuthentication", "cm-api-kafka", func(o map[string]any) {
			at(o, "spec", "secretTargetRef", 0)["parameter"] = "passwd"
		}, "Unsupported value"}},
		{"trigger_auth_unknown_field", kubernetes, securityBreak{"", "TriggerAuthentication", "cm-api-kafka", func(o map[string]any) {
			at(o, "spec")["secretTargetRefs"] = []any{}
		}, "unknown field"}},
		{"trigger_auth_secret_without_key", kubernetes, securityBreak{"", "TriggerAuthentication", "cm-api-kafka", func(o map[string]any) {
			delete(at(o, "spec", "secretTargetRef", 0), "key")
		}, "Required value"}},
		{"scaler_unknown_sasl_mode", kubernetes, securityBreak{"", "ScaledObject", "cm-api", func(o map[string]any) {
			at(o, "spec", "triggers", 0, "metadata")["sasl"] = "SCRAM-SHA-512"
		}, "sasl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, m := range mutated(t, tt.ms, tt.kind, tt.object, tt.edit) {
				if m.kind() != tt.kind || m.name() != tt.object {
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
