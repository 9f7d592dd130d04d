package manifest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// metricsPorts are the functions' METRICS_PORT defaults
// (functions/internal/server/ops.go), which every manifest must use.
var metricsPorts = map[string]string{"cm-server": "9464", "cm-api": "9465"}

// checkMetricsPort requires each function of b to get its METRICS_PORT,
// carry the scrape annotations that point at it (when annotated), and
// expose it through nothing but the pod: no Knative container port (Knative
// allows one, the serving port) and no Service port.
func checkMetricsPort(b bundle, annotated bool) []error {
	ws, err := b.workloads()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, w := range ws {
		name, port := w.m.name(), metricsPorts[w.m.name()]
		if got := configData(b, name+"-config")["METRICS_PORT"]; got != port {
			errs = append(errs, fmt.Errorf("%s: METRICS_PORT got %q, want %s", w.m, got, port))
		}
		ann, _, _ := unstructured.NestedStringMap(w.m.obj, "spec", "template", "metadata", "annotations")
		want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": port, "prometheus.io/path": "/metrics"}
		for k, v := range want {
			if annotated && ann[k] != v || !annotated && ann[k] != "" {
				errs = append(errs, fmt.Errorf("%s: pod annotation %s got %q, want %q (annotated=%v)", w.m, k, ann[k], v, annotated))
			}
		}
		for _, p := range w.containers[0].Ports {
			if strconv.Itoa(int(p.ContainerPort)) == port && (w.m.kind() != "Deployment" || p.Name != "metrics") {
				errs = append(errs, fmt.Errorf("%s: container port %+v: want the metrics port declared only on a Deployment, as \"metrics\"", w.m, p))
			}
		}
	}
	for _, svc := range b.all("v1", "Service") {
		ports, _, _ := unstructured.NestedSlice(svc.obj, "spec", "ports")
		for _, p := range ports {
			target := fmt.Sprint(p.(map[string]any)["targetPort"])
			if target == "metrics" || target == metricsPorts[svc.name()] {
				errs = append(errs, fmt.Errorf("%s: targets %s, want the metrics port kept off the Service", svc, target))
			}
		}
	}
	return errs
}

// TestMetricsPort_scrapedAtThePodOnly: config/ and the chart, in both
// modes and with the annotations off, give each function its METRICS_PORT
// and expose it to Prometheus at the pod only.
func TestMetricsPort_scrapedAtThePodOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		set       []string
		annotated bool
	}{
		{"chart_knative", nil, true},
		{"chart_kubernetes", []string{"mode=kubernetes"}, true},
		{"chart_no_annotations", []string{"metrics.scrapeAnnotations=false"}, false},
		{"config", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := shippedManifests(t)
			if tc.name != "config" {
				var err error
				if ms, err = helmTemplate(t, tc.set...); err != nil {
					t.Fatalf("helm template: got %v, want success", err)
				}
			}
			if ws, _ := bundle(ms).workloads(); len(ws) != 2 {
				t.Fatalf("workloads: got %d, want cm-server and cm-api", len(ws))
			}
			for _, err := range checkMetricsPort(bundle(ms), tc.annotated) {
				t.Error(err)
			}
		})
	}
}

// TestMetricsPort_checkFailsOnAPublicMetricsPort guards checkMetricsPort: a
// Service that targets the metrics port, a wrong annotation and a missing
// METRICS_PORT each fail it.
func TestMetricsPort_checkFailsOnAPublicMetricsPort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		mutate     func(b bundle)
	}{
		{"service_targets_it", "want the metrics port kept off the Service", func(b bundle) {
			m, _ := b.get("v1", "Service", "cm-api")
			ports, _, _ := unstructured.NestedSlice(m.obj, "spec", "ports")
			ports[0].(map[string]any)["targetPort"] = "metrics"
			_ = unstructured.SetNestedSlice(m.obj, ports, "spec", "ports")
		}},
		{"wrong_annotation", "prometheus.io/port", func(b bundle) {
			m, _ := b.get("apps/v1", "Deployment", "cm-server")
			_ = unstructured.SetNestedField(m.obj, "8080", "spec", "template", "metadata", "annotations", "prometheus.io/port")
		}},
		{"no_METRICS_PORT", "METRICS_PORT got", func(b bundle) {
			m, _ := b.get("v1", "ConfigMap", "cm-api-config")
			unstructured.RemoveNestedField(m.obj, "data", "METRICS_PORT")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, "mode=kubernetes")
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(bundle(ms))
			var got []string
			for _, err := range checkMetricsPort(bundle(ms), true) {
				got = append(got, err.Error())
			}
			if !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("got %q, want an error with %q", got, tc.want)
			}
		})
	}
}

// TestHelmTemplate_podMonitorScrapesTheMetricsPort: metrics.podMonitor
// renders one PodMonitor per function (none by default). On Knative it
// selects the one declared port, user-port, and moves the address to the
// metrics port; on Deployments it names the declared metrics port.
func TestHelmTemplate_podMonitorScrapesTheMetricsPort(t *testing.T) {
	t.Parallel()
	if ms, err := helmTemplate(t); err != nil || len(bundle(ms).all("monitoring.coreos.com/v1", "PodMonitor")) != 0 {
		t.Errorf("default: got %v, want no PodMonitor", err)
	}
	for _, mode := range []string{"knative", "kubernetes"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, "mode="+mode, "metrics.podMonitor.enabled=true", "metrics.podMonitor.labels.release=prom")
			if err != nil {
				t.Fatal(err)
			}
			pms := bundle(ms).all("monitoring.coreos.com/v1", "PodMonitor")
			if len(pms) != 2 {
				t.Fatalf("PodMonitors: got %d, want one per function", len(pms))
			}
			for _, pm := range pms {
				name := pm.name()
				sel, _, _ := unstructured.NestedStringMap(pm.obj, "spec", "selector", "matchLabels")
				if sel["app.kubernetes.io/name"] != name || labels(pm)["release"] != "prom" {
					t.Errorf("%s: selector %v labels %v, want its pods and the extra label", pm, sel, labels(pm))
				}
				eps, _, _ := unstructured.NestedSlice(pm.obj, "spec", "podMetricsEndpoints")
				if len(eps) != 1 {
					t.Fatalf("%s: got %d endpoints, want 1", pm, len(eps))
				}
				ep := eps[0].(map[string]any)
				relabel := fmt.Sprint(ep["relabelings"])
				switch {
				case ep["path"] != "/metrics":
					t.Errorf("%s: path %v, want /metrics", pm, ep["path"])
				case mode == "knative" && (ep["port"] != "user-port" || !strings.Contains(relabel, "replacement:${1}:"+metricsPorts[name]) ||
					!strings.Contains(relabel, "targetLabel:__address__")):
					t.Errorf("%s: got port %v relabelings %s, want user-port moved to :%s", pm, ep["port"], relabel, metricsPorts[name])
				case mode == "kubernetes" && (ep["port"] != "metrics" || ep["relabelings"] != nil):
					t.Errorf("%s: got port %v relabelings %s, want the named port metrics", pm, ep["port"], relabel)
				}
			}
		})
	}
}
