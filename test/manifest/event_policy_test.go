package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	eventingv1alpha1 "knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	"knative.dev/pkg/kmeta"
)

// destination is the ref of a sink a sender calls.
type destination struct{ apiVersion, kind, name string }

func (d destination) String() string { return d.kind + " " + d.name }

// tokenSends lists every call that carries a sender's OIDC token to a
// KafkaSink once authentication-oidc is on: the SinkBinding's subject
// (cm-server) to its sink, and the KafkaSource's dispatcher to its
// dead-letter sink. The dispatcher asks for a token for the dead-letter
// sink's own audience, not cm-api's (eventing-kafka-broker knative-v1.23.0,
// data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/main/ConsumerVerticleBuilder.java,
// getDeadLetterAudience; a KafkaSink's audience is
// eventing.knative.dev/kafkasink/<namespace>/<name>,
// control-plane/pkg/reconciler/sink/kafka_sink.go), so the dead-letter
// sink checks the source's identity against its own EventPolicies.
func tokenSends(b bundle) map[string][]destination {
	sends := map[string][]destination{}
	ref := func(m manifest, fields ...string) destination {
		return destination{str(m, append(fields, "apiVersion")...), str(m, append(fields, "kind")...), str(m, append(fields, "name")...)}
	}
	for _, sb := range b.all(sourcesAPI, "SinkBinding") {
		sends[sb.kind()+"/"+sb.name()] = append(sends[sb.kind()+"/"+sb.name()], ref(sb, "spec", "sink", "ref"))
	}
	for _, src := range b.all(sourcesAPI, "KafkaSource") {
		if d := ref(src, "spec", "delivery", "deadLetterSink", "ref"); d.kind == "KafkaSink" {
			sends[src.kind()+"/"+src.name()] = append(sends[src.kind()+"/"+src.name()], d)
		}
	}
	return sends
}

// checkPoliciesAdmitSenders requires, for every token-carrying call to a
// KafkaSink that some EventPolicy applies to, a policy of that sink that
// admits the caller: by ref in the release's namespace, or by the subject
// Knative gives the caller's OIDC service account. A sink that no policy
// names falls back to the cluster's default-authorization-mode; one that a
// policy names refuses everyone else with 401/403, which the dispatcher does
// not retry: a dead letter refused so is lost, its offset committed.
func checkPoliciesAdmitSenders(b bundle) []error {
	var policies []eventingv1alpha1.EventPolicy
	for _, p := range b.all(kafkaSinkAPI, "EventPolicy") {
		var ep eventingv1alpha1.EventPolicy
		if err := json.Unmarshal(p.json(), &ep); err != nil {
			return []error{fmt.Errorf("%s: %w", p, err)}
		}
		policies = append(policies, ep)
	}
	var errs []error
	for sender, dests := range tokenSends(b) {
		kind, name, _ := strings.Cut(sender, "/")
		subject := "system:serviceaccount:" + testNamespace + ":" +
			strings.ToLower(kmeta.ChildName(name, "-oidc-sources.knative.dev-"+kind))
		for _, d := range dests {
			applies, admitted := false, false
			for _, ep := range policies {
				if !policyTargets(ep, d) {
					continue
				}
				applies = true
				for _, from := range ep.Spec.From {
					if r := from.Ref; r != nil && r.APIVersion == sourcesAPI && r.Kind == kind && r.Name == name && r.Namespace == testNamespace {
						admitted = true
					}
					if from.Sub != nil && (*from.Sub == subject || *from.Sub == "*") {
						admitted = true
					}
				}
			}
			if applies && !admitted {
				errs = append(errs, fmt.Errorf("%s sends to %s with a token, but no EventPolicy of %s admits it: 401/403, the event lost", sender, d, d))
			}
		}
	}
	return errs
}

// policyTargets reports whether ep applies to d: it names d, or names no
// target at all (every addressable of its namespace).
func policyTargets(ep eventingv1alpha1.EventPolicy, d destination) bool {
	if len(ep.Spec.To) == 0 {
		return true
	}
	for _, to := range ep.Spec.To {
		if r := to.Ref; r != nil && r.APIVersion == d.apiVersion && r.Kind == d.kind && r.Name == d.name {
			return true
		}
	}
	return false
}

// TestEventPolicies_admitTheDeadLetterSender: with sender identity on, the
// chart's EventPolicies admit cm-server's SinkBinding to purchases and the
// KafkaSource to its dead-letter sink; the shipped manifests (no policies)
// and the chart's defaults leave both to the cluster's default mode.
func TestEventPolicies_admitTheDeadLetterSender(t *testing.T) {
	t.Parallel()
	on, err := helmTemplate(t, "senderIdentity.enabled=true")
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	b := bundle(on)
	sends := tokenSends(b)
	if got := sends["KafkaSource/cm-api-purchases"]; len(got) != 1 || got[0].name != "purchases-dlq" {
		t.Fatalf("KafkaSource cm-api-purchases: got token sends to %v, want its dead-letter sink purchases-dlq", got)
	}
	for _, err := range checkPoliciesAdmitSenders(b) {
		t.Error(err)
	}
	defaults, err := helmTemplate(t)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	for name, bn := range map[string]bundle{"chart defaults": bundle(defaults), "config/ and eventing/": bundle(shippedManifests(t))} {
		for _, err := range checkPoliciesAdmitSenders(bn) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestEventPolicies_checkCatchesARefusedDeadLetter: the dead-letter sink's
// policy admitting cm-server's SinkBinding instead of the KafkaSource, or,
// without it, a policy of the whole namespace that admits only cm-server, is
// caught.
func TestEventPolicies_checkCatchesARefusedDeadLetter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		policy string
		edit   func(spec map[string]any)
		drop   string // a policy left out
	}{
		{"dlq_policy_from_the_binding", "purchases-dlq-from-source", func(spec map[string]any) {
			ref := spec["from"].([]any)[0].(map[string]any)["ref"].(map[string]any)
			ref["kind"], ref["name"] = "SinkBinding", "cm-server-purchases"
		}, ""},
		{"namespace_wide_policy_for_cm_server_only", "purchases-from-cm-server", func(spec map[string]any) {
			delete(spec, "to")
		}, "purchases-dlq-from-source"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, "senderIdentity.enabled=true")
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			var b bundle
			for _, m := range ms {
				if m.kind() != "EventPolicy" || m.name() != c.drop {
					b = append(b, m)
				}
			}
			p, ok := b.get(kafkaSinkAPI, "EventPolicy", c.policy)
			if !ok {
				t.Fatalf("EventPolicy %s: not rendered", c.policy)
			}
			c.edit(p.obj["spec"].(map[string]any))
			errs := checkPoliciesAdmitSenders(b)
			if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), "KafkaSource/cm-api-purchases sends to KafkaSink purchases-dlq") {
				t.Errorf("got %v, want the dead-letter sink's refusal of the KafkaSource reported", errs)
			}
		})
	}
}
