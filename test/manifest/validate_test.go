package manifest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	eventingv1alpha1 "knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	"knative.dev/eventing/pkg/apis/feature"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	kjson "sigs.k8s.io/json"
)

// resolvedImage stands in for the digest `ko resolve` writes over a ko://
// reference, since Knative rejects image strings that do not parse.
const resolvedImage = "registry.example.com/scalable-shop/%s@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// validator checks manifests the way the API server and the admission
// webhooks of the cluster would.
type validator struct {
	crds crdRegistry
}

func newValidator(t testing.TB) *validator {
	t.Helper()
	return &validator{crds: upstreamCRDs(t)}
}

// validate returns every problem with m, or nil.
func (v *validator) validate(m manifest) error {
	gk := schema.GroupKind{Group: m.group(), Kind: m.kind()}
	switch {
	case m.apiVersion() == "v1" && m.kind() == "Secret":
		return fmt.Errorf("%s: a shipped Secret would put secret values in a manifest; document a kubectl create secret command instead", m)
	case m.apiVersion() == "v1" && m.kind() == "ConfigMap":
		return decodeBuiltin(m, &corev1.ConfigMap{})
	case m.apiVersion() == "v1" && m.kind() == "Service":
		return decodeBuiltin(m, &corev1.Service{})
	case m.apiVersion() == "v1" && m.kind() == "ServiceAccount":
		return decodeBuiltin(m, &corev1.ServiceAccount{})
	case m.apiVersion() == "networking.k8s.io/v1" && m.kind() == "NetworkPolicy":
		return validateNetworkPolicy(m)
	case m.apiVersion() == "apps/v1" && m.kind() == "Deployment":
		return validateDeployment(m)
	case m.apiVersion() == "batch/v1" && m.kind() == "Job":
		return validateJob(m)
	case m.apiVersion() == "serving.knative.dev/v1" && m.kind() == "Service":
		return validateKnativeService(m)
	case m.apiVersion() == "sources.knative.dev/v1" && m.kind() == "SinkBinding":
		return validateSinkBinding(m)
	case m.apiVersion() == "eventing.knative.dev/v1alpha1" && m.kind() == "EventPolicy":
		return validateEventPolicy(m)
	}
	if c, ok := v.crds[gk]; ok {
		if err := c.validate(m); err != nil {
			return err
		}
		switch gk {
		case schema.GroupKind{Group: "sources.knative.dev", Kind: "KafkaSource"}:
			return validateKafkaSourceWebhook(m)
		case schema.GroupKind{Group: "eventing.knative.dev", Kind: "KafkaSink"}:
			return validateKafkaSinkWebhook(m)
		}
		return nil
	}
	if gk == kafkaUserKind {
		return validateKafkaUserShape(m)
	}
	if m.apiVersion() == "keda.sh/v1alpha1" && m.kind() == "ScaledObject" {
		return validateScaledObject(m)
	}
	if m.apiVersion() == "keda.sh/v1alpha1" && m.kind() == "TriggerAuthentication" {
		return validateTriggerAuthentication(m)
	}
	return fmt.Errorf("%s: no schema for %s: add its upstream CRD to the shared CRDs or a validator here", m, m.apiVersion())
}

// decodeStrict decodes m into a Go type, failing on unknown, duplicate or
// case-mismatched fields like `kubectl apply --validate=strict`.
func decodeStrict(m manifest, into any) error {
	strictErrs, err := kjson.UnmarshalStrict(m.json(), into)
	if err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("%s: %w", m, errors.Join(strictErrs...))
	}
	return nil
}

// decodeBuiltin strictly decodes a built-in kind and checks its metadata.
func decodeBuiltin(m manifest, into interface {
	GetName() string
	GetNamespace() string
}) error {
	if err := decodeStrict(m, into); err != nil {
		return err
	}
	if errs := apimachineryvalidation.NameIsDNSSubdomain(into.GetName(), false); len(errs) > 0 {
		return fmt.Errorf("%s: metadata.name: %s", m, strings.Join(errs, "; "))
	}
	if into.GetNamespace() != "" {
		return fmt.Errorf("%s: metadata.namespace: got %q, want none (applied into the current namespace)", m, into.GetNamespace())
	}
	return nil
}

// validateDeployment decodes strictly and checks what the apps/v1 API would
// reject first: a selector that does not select the pod template.
func validateDeployment(m manifest) error {
	var d appsv1.Deployment
	if err := decodeBuiltin(m, &d); err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || d.Spec.Selector == nil || sel.Empty() || !sel.Matches(k8slabels.Set(d.Spec.Template.Labels)) {
		return fmt.Errorf("%s: spec.selector %v: got no match for template labels %v, want a non-empty selector that matches", m, d.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return fmt.Errorf("%s: spec.template.spec.containers: got none, want one", m)
	}
	return nil
}

// webhookContext is the context the Knative webhooks validate a create in:
// the default feature flags of a fresh install (config-features), as the
// eventing webhook attaches them; serving falls back to its defaults itself.
func webhookContext() context.Context {
	ctx := apis.WithinCreate(context.Background())
	return feature.ToContext(ctx, feature.FromContextOrDefaults(ctx))
}

// validateKnativeService runs serving's own defaulting and validation.
func validateKnativeService(m manifest) error {
	var svc servingv1.Service
	if err := decodeStrict(m, &svc); err != nil {
		return err
	}
	if svc.Namespace != "" {
		return fmt.Errorf("%s: metadata.namespace: got %q, want none", m, svc.Namespace)
	}
	svc.Namespace = testNamespace
	for i, c := range svc.Spec.Template.Spec.Containers {
		if path, ok := strings.CutPrefix(c.Image, "ko://"); ok {
			svc.Spec.Template.Spec.Containers[i].Image = fmt.Sprintf(resolvedImage, path[strings.LastIndex(path, "/")+1:])
		}
	}
	ctx := webhookContext()
	svc.SetDefaults(ctx)
	return knativeErrors(m, svc.Validate(ctx))
}

// eventingObject is an Eventing resource with its webhook's defaulting and
// validation.
type eventingObject interface {
	SetDefaults(context.Context)
	Validate(context.Context) *apis.FieldError
	GetNamespace() string
	SetNamespace(string)
}

// validateEventing decodes m into obj and runs eventing's own defaulting and
// validation in ctx, in the test namespace (a manifest names none).
func validateEventing(ctx context.Context, m manifest, obj eventingObject) error {
	if err := decodeStrict(m, obj); err != nil {
		return err
	}
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Errorf("%s: metadata.namespace: got %q, want none", m, ns)
	}
	obj.SetNamespace(testNamespace)
	obj.SetDefaults(ctx)
	return knativeErrors(m, obj.Validate(ctx))
}

// validateSinkBinding runs eventing's own defaulting and validation.
func validateSinkBinding(m manifest) error {
	return validateEventing(webhookContext(), m, &sourcesv1.SinkBinding{})
}

// validateEventPolicy does the same with the authentication-oidc feature on:
// the webhook accepts EventPolicies only then.
func validateEventPolicy(m manifest) error {
	ctx := feature.ToContext(webhookContext(), feature.Flags{feature.OIDCAuthentication: feature.Enabled})
	return validateEventing(ctx, m, &eventingv1alpha1.EventPolicy{})
}

// knativeErrors turns a Knative FieldError into an error; warnings count,
// because the webhook shows them to whoever applies the manifest.
func knativeErrors(m manifest, fe *apis.FieldError) error {
	if fe == nil {
		return nil
	}
	var parts []string
	if errs := fe.Filter(apis.ErrorLevel); errs != nil {
		parts = append(parts, "errors: "+errs.Error())
	}
	if warns := fe.Filter(apis.WarningLevel); warns != nil {
		parts = append(parts, "warnings: "+warns.Error())
	}
	if len(parts) == 0 {
		parts = append(parts, fe.Error())
	}
	return fmt.Errorf("%s: %s", m, strings.Join(parts, "; "))
}
