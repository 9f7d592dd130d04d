package manifest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rickb777/date/period"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// checkWiring returns every broken link between the manifests of one bundle.
func checkWiring(ms []manifest, mode string) []error {
	b := bundle(ms)
	var errs []error
	if mode == "knative" {
		errs = append(errs, checkKnativeWiring(b)...)
	} else {
		errs = append(errs, checkKubernetesWiring(b)...)
	}
	errs = append(errs, checkStrimziWiring(b)...)
	errs = append(errs, checkMongoWiring(b)...)
	errs = append(errs, checkKafkaAuthWiring(b, mode)...)
	errs = append(errs, checkMongoCredentials(b)...)
	return errs
}

// checkKnativeWiring: cm-server -> SinkBinding -> purchases KafkaSink -> topic
// -> KafkaSource -> cm-api, with dead letters to the DLQ KafkaSink.
func checkKnativeWiring(b bundle) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, name := range []string{"cm-server", "cm-api"} {
		if _, ok := b.get(knativeServiceAPI, "Service", name); !ok {
			fail("Knative Service %s: got none, want one", name)
		}
	}
	bindings, sources := b.all(sourcesAPI, "SinkBinding"), b.all(sourcesAPI, "KafkaSource")
	if len(bindings) != 1 || len(sources) != 1 {
		fail("SinkBindings and KafkaSources: got %d and %d, want 1 and 1", len(bindings), len(sources))
		return errs
	}
	sb, src := bindings[0], sources[0]
	if got := [3]string{str(sb, "spec", "subject", "apiVersion"), str(sb, "spec", "subject", "kind"), str(sb, "spec", "subject", "name")}; got != [3]string{knativeServiceAPI, "Service", "cm-server"} {
		fail("%s subject: got %v, want the cm-server Knative Service", sb, got)
	}
	sink, ok := refTarget(b, sb, "spec", "sink", "ref")
	if !ok || sink.kind() != "KafkaSink" {
		fail("%s sink: got %v, want a ref to a KafkaSink in the bundle", sb, sink)
		return errs
	}
	topic := str(sink, "spec", "topic")
	errs = append(errs, checkSinksOwnNoTopic(b)...)
	if got := str(sink, "spec", "contentMode"); got != "binary" {
		fail("%s contentMode: got %q, want binary", sink, got)
	}
	if got := strs(src, "spec", "topics"); !slices.Equal(got, []string{topic}) {
		fail("%s topics: got %v, want [%s] (the topic of %s)", src, got, topic, sink)
	}
	if got, want := strs(src, "spec", "bootstrapServers"), strs(sink, "spec", "bootstrapServers"); !slices.Equal(got, want) || len(got) == 0 {
		fail("%s bootstrapServers: got %v, want %v like %s", src, got, want, sink)
	}
	if target, ok := refTarget(b, src, "spec", "sink", "ref"); !ok || target.apiVersion() != knativeServiceAPI || target.name() != "cm-api" {
		fail("%s sink: got %v, want a ref to the cm-api Knative Service", src, target)
	}
	// Left out, ordering is ordered: about 250 events/s per dispatcher pod
	// (docs/deploy.md), so the choice is written down either way.
	if got := str(src, "spec", "ordering"); got != "ordered" && got != "unordered" {
		fail("%s ordering: got %q, want it set, unordered (the default) or ordered", src, got)
	}
	errs = append(errs, checkDelivery(b, src, topic)...)
	errs = append(errs, checkSourceScaling(b, src, sink)...)
	if cm, ok := b.get(knativeServiceAPI, "Service", "cm-api"); ok && labels(cm)["networking.knative.dev/visibility"] != "cluster-local" {
		fail("%s: got no networking.knative.dev/visibility=cluster-local label, want cm-api cluster-local", cm)
	}
	server := configData(b, "cm-server-config")
	if server["KAFKA_TOPIC"] != topic || server["KAFKA_BROKERS"] != joined(strs(sink, "spec", "bootstrapServers")) {
		fail("cm-server-config: got topic %q brokers %q, want %q %q as in %s", server["KAFKA_TOPIC"], server["KAFKA_BROKERS"], topic, joined(strs(sink, "spec", "bootstrapServers")), sink)
	}
	if server["CM_API_URL"] != cmAPIURL() {
		fail("cm-server-config CM_API_URL: got %q, want %q", server["CM_API_URL"], cmAPIURL())
	}
	if api := configData(b, "cm-api-config"); api == nil || api["KAFKA_BROKERS"] != "" {
		fail("cm-api-config: got %v, want it present and without KAFKA_BROKERS (Knative mode is HTTP-only)", api)
	}
	errs = append(errs, checkForwardedFor(b)...)
	return errs
}

// checkDelivery checks the KafkaSource delivery spec with eventing's own
// DeliverySpec validation plus the choices the shop relies on.
func checkDelivery(b bundle, src manifest, topic string) []error {
	var errs []error
	raw, ok := src.obj["spec"].(map[string]any)["delivery"]
	if !ok {
		return []error{fmt.Errorf("%s delivery: got none, want explicit retries and a dead-letter sink", src)}
	}
	data, _ := json.Marshal(raw)
	var d eventingduckv1.DeliverySpec
	if err := json.Unmarshal(data, &d); err != nil {
		return []error{fmt.Errorf("%s delivery: %w", src, err)}
	}
	if fe := d.Validate(webhookContext()); fe != nil {
		errs = append(errs, fmt.Errorf("%s delivery: got %v, want valid", src, fe))
	}
	if d.Retry == nil || *d.Retry < 1 || d.BackoffPolicy == nil || d.BackoffDelay == nil || d.Timeout == nil {
		errs = append(errs, fmt.Errorf("%s delivery: got %s, want retry >= 1, backoffPolicy, backoffDelay and timeout all set", src, data))
	} else if err := checkRetryBudget(*d.Retry, *d.BackoffPolicy, *d.BackoffDelay); err != nil {
		errs = append(errs, fmt.Errorf("%s delivery: %w", src, err))
	}
	if d.DeadLetterSink == nil || d.DeadLetterSink.Ref == nil {
		return append(errs, fmt.Errorf("%s deadLetterSink: got none, want a ref to the dead-letter KafkaSink", src))
	}
	dls, ok := b.get(d.DeadLetterSink.Ref.APIVersion, d.DeadLetterSink.Ref.Kind, d.DeadLetterSink.Ref.Name)
	if !ok || dls.kind() != "KafkaSink" || str(dls, "spec", "topic") == topic {
		errs = append(errs, fmt.Errorf("%s deadLetterSink: got %v, want a KafkaSink in the bundle on a topic other than %s", src, d.DeadLetterSink.Ref, topic))
	}
	return errs
}

// checkRetryBudget: the waits alone (harness.Delivery.Budget, the data
// plane's schedule) ride out a store outage of minRetryWait before a
// retryable failure goes to the dead letters.
func checkRetryBudget(retry int32, policy eventingduckv1.BackoffPolicyType, backoffDelay string) error {
	p, err := period.Parse(backoffDelay)
	if err != nil {
		return fmt.Errorf("backoffDelay %q: %w", backoffDelay, err)
	}
	delay, _ := p.Duration()
	d := harness.Delivery{Retry: int(retry), Linear: policy == eventingduckv1.BackoffPolicyLinear, Delay: delay}
	if total := d.Budget(); total < minRetryWait {
		return fmt.Errorf("retry budget: got %v of waits (retry %d, %s, %s), want at least %v", total, retry, policy, backoffDelay, minRetryWait)
	}
	return nil
}

// checkSourceScaling checks the KEDA annotations of the KafkaSource. Without
// the class annotation KEDA still scales the source, with its global defaults,
// once the cluster flag is on: only the class "disabled" turns it off
// (eventing-kafka-broker control-plane/pkg/autoscaler/keda/keda.go IsEnabled).
func checkSourceScaling(b bundle, src, sink manifest) []error {
	ann, _ := src.obj["metadata"].(map[string]any)["annotations"].(map[string]any)
	const prefix = "autoscaling.eventing.knative.dev/"
	if ann[prefix+"class"] == "disabled" {
		for k := range ann {
			if strings.HasPrefix(k, prefix) && k != prefix+"class" {
				return []error{fmt.Errorf("%s %s: got it with class disabled, want no other autoscaling annotation", src, k)}
			}
		}
		return nil
	}
	if got := ann[prefix+"class"]; got != "keda.autoscaling.knative.dev" {
		return []error{fmt.Errorf("%s %sclass: got %v, want keda.autoscaling.knative.dev, or disabled to keep KEDA off", src, prefix, got)}
	}
	n := map[string]int{}
	for _, k := range []string{"min-scale", "max-scale", "lag-threshold"} {
		v, err := strconv.Atoi(fmt.Sprint(ann[prefix+k]))
		if err != nil || v < 0 {
			return []error{fmt.Errorf("%s %s%s: got %v, want a non-negative integer", src, prefix, k, ann[prefix+k])}
		}
		n[k] = v
	}
	partitions := topicPartitions(b, sink)
	if n["min-scale"] > n["max-scale"] || n["lag-threshold"] < 1 || (partitions > 0 && int64(n["max-scale"]) > partitions) {
		return []error{fmt.Errorf("%s scaling: got %v with %d partitions, want min <= max <= partitions and lag-threshold >= 1", src, n, partitions)}
	}
	return nil
}

// checkSinksOwnNoTopic: no KafkaSink sets numPartitions or replicationFactor.
// With both, the controller owns the topic, even one that existed, and deletes
// it with the sink; both are immutable, so changing them breaks an upgrade
// (eventing-kafka-broker control-plane/pkg/reconciler/sink/kafka_sink.go,
// pkg/apis/eventing/v1alpha1/kafka_sink_validation.go at knative-v1.23.0).
func checkSinksOwnNoTopic(b bundle) []error {
	var errs []error
	for _, sink := range b.all(kafkaSinkAPI, "KafkaSink") {
		for _, f := range []string{"numPartitions", "replicationFactor"} {
			if _, ok := sink.obj["spec"].(map[string]any)[f]; ok {
				errs = append(errs, fmt.Errorf("%s: got spec.%s, want none (the sink would own its topic and delete it with itself)", sink, f))
			}
		}
	}
	return errs
}

// topicPartitions returns the partition count of the sink's topic, from a
// Strimzi KafkaTopic in the bundle (0 when unknown).
func topicPartitions(b bundle, sink manifest) int64 {
	for _, kt := range b.all(strimziAPI, "KafkaTopic") {
		if str(kt, "spec", "topicName") == str(sink, "spec", "topic") {
			n, _ := integer(kt, "spec", "partitions")
			return n
		}
	}
	return 0
}

// refTarget resolves a KReference at fields of m inside the bundle.
func refTarget(b bundle, m manifest, fields ...string) (manifest, bool) {
	apiVersion := str(m, append(fields, "apiVersion")...)
	kind := str(m, append(fields, "kind")...)
	name := str(m, append(fields, "name")...)
	if ns := str(m, append(fields, "namespace")...); ns != "" {
		return manifest{}, false // refs stay in the namespace the bundle is applied to
	}
	return b.get(apiVersion, kind, name)
}

// TestShippedManifests_wired checks the links between config/ and eventing/.
func TestShippedManifests_wired(t *testing.T) {
	t.Parallel()
	for _, err := range checkWiring(shippedWithTopics(t), "knative") {
		t.Errorf("wiring: got %v, want none", err)
	}
}
