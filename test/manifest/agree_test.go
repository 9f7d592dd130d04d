package manifest

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// koImage is the ko:// reference of a function of this module.
func koImage(function string) string { return "ko://" + modulePath + "/functions/" + function }

// TestChart_matchesConfig renders the chart with the ko:// images of config/
// and requires the same resources: same kinds and names, identical spec and
// data, the same annotations, and config's labels among the chart's.
func TestChart_matchesConfig(t *testing.T) {
	t.Parallel()
	shipped := shippedManifests(t)
	rendered, err := helmTemplate(t,
		"images.cmServer.repository="+koImage("cm-server"),
		"images.cmApi.repository="+koImage("cm-api"))
	if err != nil {
		t.Fatalf("helm template: got %v, want success", err)
	}
	byKey := map[string]manifest{}
	for _, m := range rendered {
		byKey[resourceKey(m)] = m
	}
	var want []string
	for _, m := range shipped {
		key := resourceKey(m)
		want = append(want, key)
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			r, ok := byKey[key]
			if !ok {
				t.Fatalf("chart: got no %s, want the resource config/ and eventing/ ship", key)
			}
			for _, diff := range compareResources(m, r) {
				t.Errorf("chart vs %s: %s", m.source, diff)
			}
		})
	}
	var got []string
	for key := range byKey {
		got = append(got, key)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resources: chart renders %v, config/ and eventing/ ship %v; want the same set", got, want)
	}
}

// resourceKey identifies a resource by apiVersion, kind and name.
func resourceKey(m manifest) string { return m.apiVersion() + "/" + m.kind() + "/" + m.name() }

// compareResources lists the differences that matter between a shipped and a
// rendered resource; Helm's bookkeeping labels are allowed extras.
func compareResources(shipped, rendered manifest) []string {
	var diffs []string
	for _, k := range unionKeys(shipped.obj, rendered.obj) {
		if k != "metadata" {
			diffs = append(diffs, diffValues(k, rendered.obj[k], shipped.obj[k])...)
		}
	}
	sAnn, _, _ := nestedMap(shipped.obj, "metadata", "annotations")
	rAnn, _, _ := nestedMap(rendered.obj, "metadata", "annotations")
	if len(sAnn)+len(rAnn) > 0 && !reflect.DeepEqual(sAnn, rAnn) {
		diffs = append(diffs, fmt.Sprintf("annotations: got %v, want %v", rAnn, sAnn))
	}
	rLabels := labels(rendered)
	for k, v := range labels(shipped) {
		if rLabels[k] != v {
			diffs = append(diffs, fmt.Sprintf("label %s: got %q, want %q", k, rLabels[k], v))
		}
	}
	for k := range rLabels {
		if _, ok := labels(shipped)[k]; !ok && !strings.HasPrefix(k, "helm.sh/") && !isHelmLabel(k) {
			diffs = append(diffs, fmt.Sprintf("label %s: got %q, want none", k, rLabels[k]))
		}
	}
	return diffs
}

// isHelmLabel reports whether a label is one of Helm's recommended release labels.
func isHelmLabel(k string) bool {
	switch k {
	case "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version":
		return true
	}
	return false
}

// diffValues lists the paths at which got and want differ.
func diffValues(path string, got, want any) []string {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		var diffs []string
		for _, k := range unionKeys(gm, wm) {
			diffs = append(diffs, diffValues(path+"."+k, gm[k], wm[k])...)
		}
		return diffs
	}
	gl, gok := got.([]any)
	wl, wok := want.([]any)
	if gok && wok && len(gl) == len(wl) {
		var diffs []string
		for i := range gl {
			diffs = append(diffs, diffValues(fmt.Sprintf("%s[%d]", path, i), gl[i], wl[i])...)
		}
		return diffs
	}
	if reflect.DeepEqual(got, want) {
		return nil
	}
	return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys(a, b map[string]any) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]any{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
