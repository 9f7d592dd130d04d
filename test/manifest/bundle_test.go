package manifest

import (
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// API versions the wiring checks look for.
const (
	knativeServiceAPI = "serving.knative.dev/v1"
	kafkaSinkAPI      = "eventing.knative.dev/v1alpha1"
	sourcesAPI        = "sources.knative.dev/v1"
	strimziAPI        = "kafka.strimzi.io/v1"
)

// bundle is the set of manifests applied together.
type bundle []manifest

// all returns the manifests of one apiVersion and kind.
func (b bundle) all(apiVersion, kind string) []manifest {
	var out []manifest
	for _, m := range b {
		if m.apiVersion() == apiVersion && m.kind() == kind {
			out = append(out, m)
		}
	}
	return out
}

// get returns the manifest of one apiVersion, kind and name.
func (b bundle) get(apiVersion, kind, name string) (manifest, bool) {
	for _, m := range b.all(apiVersion, kind) {
		if m.name() == name {
			return m, true
		}
	}
	return manifest{}, false
}

// str reads a nested string field ("" when absent).
func str(m manifest, fields ...string) string {
	s, _, _ := unstructured.NestedString(m.obj, fields...)
	return s
}

// strs reads a nested string list.
func strs(m manifest, fields ...string) []string {
	s, _, _ := unstructured.NestedStringSlice(m.obj, fields...)
	return s
}

// integer reads a nested integer field and whether it is present.
func integer(m manifest, fields ...string) (int64, bool) {
	n, ok, _ := unstructured.NestedInt64(m.obj, fields...)
	return n, ok
}

// labels returns metadata.labels.
func labels(m manifest) map[string]string {
	l, _, _ := unstructured.NestedStringMap(m.obj, "metadata", "labels")
	return l
}

// annotations returns metadata.annotations.
func annotations(m manifest) map[string]string {
	a, _, _ := unstructured.NestedStringMap(m.obj, "metadata", "annotations")
	return a
}

// configData returns a ConfigMap's data, or nil when the ConfigMap is absent.
func configData(b bundle, name string) map[string]string {
	m, ok := b.get("v1", "ConfigMap", name)
	if !ok {
		return nil
	}
	d, _, _ := unstructured.NestedStringMap(m.obj, "data")
	if d == nil {
		d = map[string]string{}
	}
	return d
}

// workload is a Knative Service or a Deployment: something that runs containers.
type workload struct {
	m          manifest
	labels     map[string]string // pod template labels
	containers []corev1.Container
	volumes    []corev1.Volume
	pull       []corev1.LocalObjectReference // imagePullSecrets
}

// workloads decodes every Knative Service and Deployment in b.
func (b bundle) workloads() ([]workload, error) {
	var out []workload
	for _, m := range b {
		switch {
		case m.apiVersion() == knativeServiceAPI && m.kind() == "Service":
			var svc servingv1.Service
			if err := json.Unmarshal(m.json(), &svc); err != nil {
				return nil, fmt.Errorf("%s: %w", m, err)
			}
			spec := svc.Spec.Template.Spec
			out = append(out, workload{m: m, labels: svc.Spec.Template.Labels, containers: spec.Containers, volumes: spec.Volumes, pull: spec.ImagePullSecrets})
		case m.apiVersion() == "apps/v1" && m.kind() == "Deployment":
			var d appsv1.Deployment
			if err := json.Unmarshal(m.json(), &d); err != nil {
				return nil, fmt.Errorf("%s: %w", m, err)
			}
			spec := d.Spec.Template.Spec
			out = append(out, workload{m: m, labels: d.Spec.Template.Labels, containers: spec.Containers, volumes: spec.Volumes, pull: spec.ImagePullSecrets})
		}
	}
	return out, nil
}

// workload returns the workload called name.
func (b bundle) workload(name string) (workload, error) {
	ws, err := b.workloads()
	if err != nil {
		return workload{}, err
	}
	for _, w := range ws {
		if w.m.name() == name {
			return w, nil
		}
	}
	return workload{}, fmt.Errorf("workload %s: got none, want a Knative Service or Deployment", name)
}

// env returns the container's env var called name.
func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// cmAPIURL is cm-api's in-cluster address in testNamespace.
func cmAPIURL() string { return "http://cm-api." + testNamespace + ".svc.cluster.local" }

// joined renders a bootstrap server list the way KAFKA_BROKERS holds it.
func joined(servers []string) string { return strings.Join(servers, ",") }
