package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// helmNotes renders the chart's NOTES.txt, which `helm template` leaves out:
// a copy of the chart renders it through tpl into a YAML string.
func helmNotes(t *testing.T, set ...string) (string, error) {
	t.Helper()
	chart := filepath.Join(t.TempDir(), "scalable-shop")
	if err := os.CopyFS(chart, os.DirFS(filepath.Join(repoRoot(t), "charts", "scalable-shop"))); err != nil {
		t.Fatalf("copy chart: %v", err)
	}
	if err := os.Rename(filepath.Join(chart, "templates", "NOTES.txt"), filepath.Join(chart, "notes.txt")); err != nil {
		t.Fatalf("move NOTES.txt: %v", err)
	}
	render := `notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}` + "\n"
	if err := os.WriteFile(filepath.Join(chart, "templates", "zz-notes.yaml"), []byte(render), 0o644); err != nil {
		t.Fatalf("write notes template: %v", err)
	}
	args := []string{"template", releaseName, chart, "--namespace", testNamespace, "--show-only", "templates/zz-notes.yaml"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runCommand(helmBinary(t), args...)
	if err != nil {
		return "", err
	}
	ms, err := parseManifests("NOTES.txt", out)
	if err != nil || len(ms) != 1 {
		return "", fmt.Errorf("parse rendered notes: %v (%d documents)", err, len(ms))
	}
	notes, _ := ms[0].obj["notes"].(string)
	return notes, nil
}

// secretsReferenced lists the Secrets a bundle reads that someone must
// create: every secretKeyRef, secret volume, KafkaSink auth Secret, KEDA
// secretTargetRef and MongoDB user password, less those an operator writes.
func secretsReferenced(ms []manifest) []string {
	names := map[string]bool{}
	written := map[string]bool{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			switch key {
			case "secretKeyRef", "passwordSecretRef", "ref": // ref: KafkaSink spec.auth.secret.ref
				if n, ok := v["name"].(string); ok && (key != "ref" || v["apiVersion"] == nil) {
					names[n] = true
				}
			case "secret":
				if n, ok := v["secretName"].(string); ok {
					names[n] = true
				}
			}
			for k, x := range v {
				walk(k, x)
			}
		case []any:
			for _, x := range v {
				if key == "secretTargetRef" {
					names[fmt.Sprint(x.(map[string]any)["name"])] = true
				}
				walk(key, x)
			}
		}
	}
	for _, m := range ms {
		walk("", m.obj)
		if m.kind() == "MongoDBCommunity" {
			users, _ := m.obj["spec"].(map[string]any)["users"].([]any)
			for _, u := range users {
				user := u.(map[string]any)
				written[fmt.Sprint(user["connectionStringSecretName"])] = true
				written[fmt.Sprint(user["scramCredentialsSecretName"])] = true
			}
		}
	}
	var out []string
	for n := range names {
		if !written[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// TestHelmNotes_tellHowToCreateEverySecretAndTopic: for every variant,
// NOTES.txt has a `kubectl create secret generic` command for each Secret the
// release reads, says where the topics come from (topicNotes), shows how to
// call with the key, and explains the rate limit.
func TestHelmNotes_tellHowToCreateEverySecretAndTopic(t *testing.T) {
	t.Parallel()
	for _, v := range chartVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			notes, err := helmNotes(t, v.set...)
			if err != nil {
				t.Fatalf("render NOTES.txt: got %v, want success", err)
			}
			ms, err := helmTemplate(t, v.set...)
			if err != nil {
				t.Fatalf("helm template: got %v, want success", err)
			}
			for _, name := range secretsReferenced(ms) {
				if !strings.Contains(notes, "create secret generic "+name+" ") && !strings.Contains(notes, "create secret generic "+name+"\n") {
					t.Errorf("NOTES.txt: got no `kubectl create secret generic %s`, want one for every Secret the release reads\n%s", name, notes)
				}
			}
			want := []string{`-H "Authorization: Bearer $KEY"`, `--from-literal=keys="$(openssl rand -hex 32)"`, "429", "Retry-After"}
			if v.authOff {
				want = []string{"API keys are OFF"}
			}
			for _, w := range append(want, topicNotes(ms)...) {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES.txt: got no %q, want it\n%s", w, notes)
				}
			}
		})
	}
}

// TestHelmNotes_kafkaSecretMatchesSettings: the Knative-layout Secret that
// NOTES.txt creates has the protocol and keys the values ask for.
func TestHelmNotes_kafkaSecretMatchesSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		set       []string
		want, not []string
	}{
		{"sasl_over_tls", kafkaAuthValues, []string{"--from-literal=protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "user=shop", "--from-file=ca.crt=ca.pem"},
			[]string{"user.skip"}},
		{"sasl_plain", []string{"kafka.auth.sasl.enabled=true", "kafka.auth.sasl.username=shop", "kafka.auth.sasl.mechanism=PLAIN"},
			[]string{"--from-literal=protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN"}, []string{"--from-file=", "user.skip"}},
		// protocol SSL without a client certificate: eventing-kafka-broker's
		// control-plane/pkg/security/secret.go needs user.skip, else NotReady.
		{"tls_system_roots", []string{"kafka.auth.tls.enabled=true", "kafka.auth.tls.caSecret.name="},
			[]string{"--from-literal=protocol=SSL", "--from-literal=user.skip=true"}, []string{"--from-file=", "--from-literal=sasl.mechanism"}},
		{"tls_private_ca", []string{"kafka.auth.tls.enabled=true"},
			[]string{"--from-literal=protocol=SSL", "--from-literal=user.skip=true", "--from-file=ca.crt=ca.pem"}, []string{"--from-literal=sasl.mechanism"}},
		{"kubernetes_needs_no_knative_secret", append([]string{"mode=kubernetes"}, kafkaAuthValues...), []string{"--from-literal=password="},
			[]string{"--from-literal=protocol=", "user.skip"}},
		{"off", nil, nil, []string{"Kafka:", "--from-literal=protocol=", "client.properties"}},
		// A user per component: each Secret names the KafkaUser it serves.
		{"strimzi_users", []string{"strimzi.enabled=true"}, []string{"create secret generic kafka-user-purchases-sink \\\n    --from-literal=protocol=SASL_PLAINTEXT --from-literal=sasl.mechanism=SCRAM-SHA-512 \\\n    --from-literal=user=purchases-sink ",
			"--from-literal=user=purchases-dlq-sink ", "--from-literal=user=cm-api-source "}, []string{"kafka-auth", "user=cm-server", "client.properties"}},
		{"strimzi_users_kubernetes", []string{"strimzi.enabled=true", "mode=kubernetes"}, []string{"create secret generic kafka-user-cm-server ",
			"--from-literal=user=cm-server ", "--from-literal=user=cm-api ", "--from-literal=user=cm-api-lag "}, []string{"kafka-auth", "user=purchases-sink"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			notes, err := helmNotes(t, tt.set...)
			if err != nil {
				t.Fatalf("render NOTES.txt: got %v, want success", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES.txt: got no %q, want it\n%s", w, notes)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(notes, n) {
					t.Errorf("NOTES.txt: got %q, want none\n%s", n, notes)
				}
			}
		})
	}
}

// topicNotes is what NOTES.txt must say about where the topics come from, as
// no KafkaSink creates one: the kept KafkaTopics with Strimzi, else
// `shopctl topics ensure` with the values' topics, partitions and
// replication (with the Kafka settings when Kafka needs SASL/TLS; the
// in-cluster `kubectl run` only without them, as it cannot mount a Secret).
func topicNotes(ms []manifest) []string {
	if len(bundle(ms).all(strimziAPI, "KafkaTopic")) > 0 {
		return []string{"helm.sh/resource-policy", "delete kafkatopic purchases purchases-dlq"}
	}
	want := []string{"KAFKA_TOPIC=purchases KAFKA_DLQ_TOPIC=purchases-dlq",
		"go run ./cmd/shopctl topics ensure --partitions 10 --dlq-partitions 3 --replication-factor 3"}
	if server := configData(ms, "cm-server-config"); server["KAFKA_TLS"] != "" || server["KAFKA_SASL_MECHANISM"] != "" {
		want = append(want, "<the Kafka settings below>", "KAFKA_TLS=")
	} else {
		want = append(want, `--image="$(ko build ./cmd/shopctl)"`, "-- topics ensure --partitions 10 --dlq-partitions 3 --replication-factor 3")
	}
	return want
}

// TestKafkaSinksComment_tlsOnlyNeedsUserSkip: the ko path's instructions for
// the auth Secret name user.skip, which protocol SSL without a client
// certificate needs (eventing-kafka-broker control-plane/pkg/security/secret.go).
func TestKafkaSinksComment_tlsOnlyNeedsUserSkip(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "eventing", "kafka-sinks.yaml"))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !strings.Contains(string(data), `user.skip: "true"`) {
		t.Errorf(`eventing/kafka-sinks.yaml: got no user.skip: "true" in the Secret's instructions, want it for protocol SSL`)
	}
}
