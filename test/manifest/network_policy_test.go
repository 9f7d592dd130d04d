package manifest

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// The pods that carry Knative's traffic, as their upstream manifests label
// them (knative-v1.23.0, the release docs/deploy.md pins):
// knative/serving config/core/deployments/activator.yaml and autoscaler.yaml,
// knative-extensions/net-kourier config/300-gateway.yaml.
var (
	activator = peer{"knative-serving", map[string]string{"app": "activator"}}
	scraper   = peer{"knative-serving", map[string]string{"app": "autoscaler"}}
	kourier   = peer{"kourier-system", map[string]string{"app": "3scale-kourier-gateway"}}
)

// The queue-proxy's ports (knative/serving pkg/networking/constants.go):
// requests on BackendHTTPPort, the autoscaler's scrape on
// AutoscalingQueueMetricsPort.
const (
	queueHTTPPort    = 8012
	queueMetricsPort = 9090
)

// defaultMetricsPorts are the functions' METRICS_PORT defaults.
var defaultMetricsPorts = map[string]int{"cm-server": 9464, "cm-api": 9465}

// peer is a pod in a namespace, named by labels.
type peer struct {
	namespace string
	labels    map[string]string
}

// admits reports whether p (a NetworkPolicy peer) lets in a pod labelled
// like pod; a peer without namespaceSelector is the policy's own namespace.
func admits(p networkingv1.NetworkPolicyPeer, pod peer) bool {
	if p.IPBlock != nil {
		return false
	}
	ns := map[string]string{"kubernetes.io/metadata.name": pod.namespace}
	if p.NamespaceSelector == nil {
		if pod.namespace != testNamespace {
			return false
		}
	} else if s, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector); err != nil || !s.Matches(k8slabels.Set(ns)) {
		return false
	}
	if p.PodSelector == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(p.PodSelector)
	return err == nil && s.Matches(k8slabels.Set(pod.labels))
}

// reaches lists the ports on which pol lets pod in; -1 means every port.
func reaches(pol networkingv1.NetworkPolicy, pod peer) []int {
	var ports []int
	for _, rule := range pol.Spec.Ingress {
		if len(rule.From) > 0 && !slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool { return admits(p, pod) }) {
			continue
		}
		if len(rule.Ports) == 0 {
			return []int{-1}
		}
		for _, p := range rule.Ports {
			ports = append(ports, p.Port.IntValue())
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// validateNetworkPolicy decodes m strictly into the upstream type and checks
// what the API server's validation would (k8s.io/kubernetes
// pkg/apis/networking/validation): selectors parse, ports are numbers in
// range with a known protocol, policy types are Ingress or Egress.
func validateNetworkPolicy(m manifest) error {
	var pol networkingv1.NetworkPolicy
	if err := decodeBuiltin(m, &pol); err != nil {
		return err
	}
	var errs []string
	selector := func(where string, s *metav1.LabelSelector) {
		if s == nil {
			return
		}
		if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
			errs = append(errs, where+": "+err.Error())
		}
	}
	selector("spec.podSelector", &pol.Spec.PodSelector)
	for i, rule := range pol.Spec.Ingress {
		for j, p := range rule.From {
			selector(fmt.Sprintf("ingress[%d].from[%d].namespaceSelector", i, j), p.NamespaceSelector)
			selector(fmt.Sprintf("ingress[%d].from[%d].podSelector", i, j), p.PodSelector)
		}
		for j, p := range rule.Ports {
			if p.Port == nil || p.Port.Type != intstr.Int || p.Port.IntVal < 1 || p.Port.IntVal > 65535 {
				errs = append(errs, fmt.Sprintf("ingress[%d].ports[%d]: want a port number 1-65535", i, j))
			}
			if p.Protocol != nil && !slices.Contains([]corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}, *p.Protocol) {
				errs = append(errs, fmt.Sprintf("ingress[%d].ports[%d].protocol %q", i, j, *p.Protocol))
			}
		}
	}
	for _, t := range pol.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, fmt.Sprintf("policyTypes: %q", t))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", m, strings.Join(errs, "; "))
	}
	return nil
}

// checkNetworkPolicies requires one ingress policy per function, selecting
// its pods, that lets in exactly what carries its traffic: on Knative the
// gateway and the activator on the queue-proxy's port and the autoscaler on
// its scrape port; in plain Kubernetes cm-server's pods to cm-api; Prometheus
// (prom) on the function's metrics port and nowhere else; nobody else.
func checkNetworkPolicies(b bundle, gateway, prom peer) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	policies := b.all("networking.k8s.io/v1", "NetworkPolicy")
	if len(policies) != 2 {
		return []error{fmt.Errorf("NetworkPolicies: got %d, want 2 (cm-server, cm-api)", len(policies))}
	}
	server, err := b.workload("cm-server")
	if err != nil {
		return []error{err}
	}
	stranger := peer{testNamespace, map[string]string{"app": "curious"}}
	for _, name := range []string{"cm-server", "cm-api"} {
		w, err := b.workload(name)
		if err != nil {
			return append(errs, err)
		}
		var pol networkingv1.NetworkPolicy
		for _, m := range policies {
			var p networkingv1.NetworkPolicy
			if err := json.Unmarshal(m.json(), &p); err != nil {
				return append(errs, err)
			}
			if s, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector); err == nil && s.Matches(k8slabels.Set(w.labels)) {
				pol = p
			}
		}
		if pol.Name == "" {
			fail("%s: no NetworkPolicy selects its pods %v", name, w.labels)
			continue
		}
		if !slices.Equal(pol.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
			fail("%s: policyTypes %v, want [Ingress] (egress stays open)", name, pol.Spec.PolicyTypes)
		}
		metrics := defaultMetricsPorts[name]
		if v := containerEnv(b, w.containers[0])["METRICS_PORT"].literal; v != "" {
			fmt.Sscan(v, &metrics)
		}
		want := map[string]struct {
			who   peer
			ports []int
		}{"Prometheus": {prom, []int{metrics}}, "another pod of the namespace": {stranger, nil}}
		if w.m.apiVersion() == knativeServiceAPI {
			want["the gateway"] = struct {
				who   peer
				ports []int
			}{gateway, []int{queueHTTPPort, 8112}}
			want["the activator"] = struct {
				who   peer
				ports []int
			}{activator, []int{queueHTTPPort, 8112}}
			want["the autoscaler"] = struct {
				who   peer
				ports []int
			}{scraper, []int{queueMetricsPort}}
			want["cm-server's pods"] = struct {
				who   peer
				ports []int
			}{peer{testNamespace, server.labels}, nil}
		} else {
			port := int(w.containers[0].Ports[0].ContainerPort)
			if name == "cm-api" {
				want["cm-server's pods"] = struct {
					who   peer
					ports []int
				}{peer{testNamespace, server.labels}, []int{port}}
			} else {
				// Whoever fronts the Service: every source by default,
				// Prometheus included.
				want["another pod of the namespace"] = struct {
					who   peer
					ports []int
				}{stranger, []int{port}}
				want["Prometheus"] = struct {
					who   peer
					ports []int
				}{prom, []int{port, metrics}}
			}
		}
		for who, c := range want {
			if got := reaches(pol, c.who); !slices.Equal(got, c.ports) {
				fail("%s: %s (%v) gets in on ports %v, want %v", name, who, c.who, got, c.ports)
			}
		}
	}
	return errs
}

func TestNetworkPolicies_admitOnlyWhatCarriesTheTraffic(t *testing.T) {
	t.Parallel()
	prom := peer{"monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}}
	istio := peer{"istio-system", map[string]string{"istio": "ingressgateway"}}
	for _, c := range []struct {
		name    string
		set     []string
		gateway peer
		prom    peer
	}{
		{"knative_kourier", nil, kourier, prom},
		{"knative_sender_identity", []string{"senderIdentity.enabled=true"}, kourier, prom},
		{"knative_no_read_identity", []string{"readIdentity.enabled=false"}, kourier, prom},
		{"knative_istio", []string{
			`networkPolicy.gateways[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=istio-system`,
			`networkPolicy.gateways[0].podSelector.matchLabels.istio=ingressgateway`}, istio, prom},
		{"knative_own_prometheus", []string{
			`networkPolicy.prometheus[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=observability`},
			kourier, peer{"observability", prom.labels}},
		{"kubernetes", []string{"mode=kubernetes"}, kourier, prom},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, c.set...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			for _, err := range checkNetworkPolicies(bundle(ms), c.gateway, c.prom) {
				t.Error(err)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		ms, err := helmTemplate(t, "networkPolicy.enabled=false")
		if err != nil {
			t.Fatalf("helm template: %v", err)
		}
		if n := len(bundle(ms).all("networking.k8s.io/v1", "NetworkPolicy")); n != 0 {
			t.Errorf("networkPolicy.enabled=false: got %d NetworkPolicies, want none", n)
		}
	})
	// config/ ships the chart's defaults (TestChart_matchesConfig): Kourier.
	for _, err := range checkNetworkPolicies(bundle(shippedManifests(t)), kourier, prom) {
		t.Errorf("config/: %v", err)
	}
}

// TestNetworkPolicies_checkCatchesMistakes breaks the policies on purpose.
func TestNetworkPolicies_checkCatchesMistakes(t *testing.T) {
	t.Parallel()
	prom := peer{"monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}}
	for _, set := range [][]string{
		{"networkPolicy.servingNamespace=serving"}, // activator and autoscaler shut out
		{"networkPolicy.metricsPorts.cmApi=9999"},  // not cm-api's METRICS_PORT
		{`networkPolicy.gateways[0].podSelector.matchLabels.app=envoy`},
		{"networkPolicy.metricsPorts.cmServer=9465"},                    // cm-api's port
		{"mode=kubernetes", "networkPolicy.metricsPorts.cmServer=8081"}, // not cm-server's METRICS_PORT
	} {
		ms, err := helmTemplate(t, set...)
		if err != nil {
			t.Fatalf("helm template %v: %v", set, err)
		}
		if errs := checkNetworkPolicies(bundle(ms), kourier, prom); len(errs) == 0 {
			t.Errorf("%v: got no error, want one", set)
		}
	}
}

// checkReadIdentity requires cm-server's identity for cm-api to agree end to
// end: cm-server runs as the ServiceAccount cm-server (rendered, with no
// automounted token), mounts a projected token for cm-api's READS_AUDIENCE
// where CM_API_TOKEN_FILE points, cm-api allows exactly that subject and can
// reach the API server's discovery. Off, none of it may be there.
func checkReadIdentity(b bundle, enabled bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	server, err := b.workload("cm-server")
	if err != nil {
		return []error{err}
	}
	api, err := b.workload("cm-api")
	if err != nil {
		return []error{err}
	}
	serverEnv, apiEnv := containerEnv(b, server.containers[0]), containerEnv(b, api.containers[0])
	file, audience := serverEnv["CM_API_TOKEN_FILE"].literal, apiEnv["READS_AUDIENCE"].literal
	sa := serviceAccountName(server.m)
	_, hasSA := b.get("v1", "ServiceAccount", "cm-server")
	if !enabled {
		if file != "" || audience != "" || sa != "" || hasSA {
			fail("read identity off: got CM_API_TOKEN_FILE %q, READS_AUDIENCE %q, serviceAccountName %q, ServiceAccount %v; want none",
				file, audience, sa, hasSA)
		}
		return errs
	}
	if sa != "cm-server" || !hasSA {
		fail("cm-server: serviceAccountName %q, ServiceAccount cm-server rendered %v; want both", sa, hasSA)
	}
	if want := "system:serviceaccount:" + testNamespace + ":" + sa; apiEnv["READS_ALLOWED_SUBJECTS"].literal != want {
		fail("cm-api READS_ALLOWED_SUBJECTS: got %q, want cm-server's service account %q", apiEnv["READS_ALLOWED_SUBJECTS"].literal, want)
	}
	if got := projectedAudience(server, file); audience == "" || got != audience {
		fail("cm-server's token at CM_API_TOKEN_FILE %q is for audience %q; cm-api's READS_AUDIENCE is %q: want the same, set", file, got, audience)
	}
	if !apiServerToken(api) {
		fail("cm-api: got no service-account token and cluster CA at %s, want them (discovery at the API server needs them)", serviceAccountDir)
	}
	return errs
}

// projectedAudience is the audience of the projected service-account token
// w's first container finds at file, or "".
func projectedAudience(w workload, file string) string {
	for _, m := range w.containers[0].VolumeMounts {
		for _, v := range w.volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if t := src.ServiceAccountToken; t != nil && path.Join(m.MountPath, t.Path) == file {
					return t.Audience
				}
			}
		}
	}
	return ""
}

// serviceAccountName is the pod's ServiceAccount of a Knative Service or
// Deployment.
func serviceAccountName(m manifest) string {
	var svc servingv1.Service // spec.template.spec.serviceAccountName in both
	if err := json.Unmarshal(m.json(), &svc); err != nil {
		return ""
	}
	return svc.Spec.Template.Spec.ServiceAccountName
}

func TestReadIdentity_wiredTogether(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		set     []string
		enabled bool
	}{
		{"defaults_on", nil, true},
		{"knative_off", []string{"readIdentity.enabled=false"}, false},
		{"knative_with_sender_identity", []string{"senderIdentity.enabled=true"}, true},
		{"knative_own_audience", []string{"readIdentity.audience=shop-cm-api"}, true},
		{"kubernetes", []string{"mode=kubernetes"}, true},
		{"kubernetes_off", []string{"mode=kubernetes", "readIdentity.enabled=false"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, c.set...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			for _, err := range checkReadIdentity(bundle(ms), c.enabled) {
				t.Error(err)
			}
		})
	}
	// config/ ships the chart's defaults: the read identity on.
	for _, err := range checkReadIdentity(bundle(shippedManifests(t)), true) {
		t.Errorf("config/: %v", err)
	}
	// The check itself fails a bundle that is not what it is checked as.
	on, err := helmTemplate(t)
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkReadIdentity(bundle(on), false); len(errs) == 0 {
		t.Error("an enabled bundle checked as off: got no error, want one")
	}
	off, err := helmTemplate(t, "readIdentity.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkReadIdentity(bundle(off), true); len(errs) < 3 {
		t.Errorf("a disabled bundle checked as on: got %v, want the account, subject, audience and token reported", errs)
	}
}
