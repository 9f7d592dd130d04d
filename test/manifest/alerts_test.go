package manifest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The chart's alerting rules (alerts.enabled): a PrometheusRule whose rules
// promtool checks and unit-tests (testdata/alerts_test.yaml), each with a
// runbook in docs/operations.md. No PrometheusRule CRD is vendored, so the
// object's shape is checked here and its rules by promtool.

// shopAlerts are the alerts the chart ships, each with a runbook section
// and promtool tests.
var shopAlerts = []string{"ShopBuyErrorBudgetBurnFast", "ShopBuyErrorBudgetBurnSlow", "ShopPartitionStuck",
	"ShopConsumerLagGrowing", "ShopDeadLetters", "ShopStoreUnreachable"}

// promtoolBinary finds promtool as helmBinary finds helm: $PROMTOOL (what
// make test sets), bin/promtool, PATH.
func promtoolBinary(t testing.TB) string {
	t.Helper()
	for _, c := range []string{os.Getenv("PROMTOOL"), filepath.Join(repoRoot(t), "bin", "promtool")} {
		if fi, err := os.Stat(c); c != "" && err == nil && !fi.IsDir() {
			return c
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if testing.Short() {
		t.Skip("promtool not found (skipped under -short)")
	}
	t.Fatal("promtool not found in $PROMTOOL, bin/promtool or PATH; make test builds the pinned version " +
		"(hack/test.sh: `GOWORK=off go -C hack/promtool build -o ../../bin/promtool github.com/prometheus/prometheus/cmd/promtool`)")
	return ""
}

// prometheusRule renders the chart with set and returns its PrometheusRules.
func prometheusRules(t *testing.T, set ...string) []manifest {
	t.Helper()
	ms, err := helmTemplate(t, set...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var out []manifest
	for _, m := range ms {
		if m.kind() == "PrometheusRule" {
			out = append(out, m)
		}
	}
	return out
}

// ruleSpec is the part of a PrometheusRule's spec the tests read.
type ruleSpec struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// theRule returns the one PrometheusRule rendered with set, its spec as
// promtool reads a rules file, and the spec decoded.
func theRule(t *testing.T, set ...string) (manifest, []byte, ruleSpec) {
	t.Helper()
	rules := prometheusRules(t, append([]string{"alerts.enabled=true"}, set...)...)
	if len(rules) != 1 {
		t.Fatalf("PrometheusRules with alerts.enabled: got %d, want 1", len(rules))
	}
	m := rules[0]
	if m.apiVersion() != "monitoring.coreos.com/v1" || m.name() == "" {
		t.Errorf("%s: got apiVersion %q name %q, want monitoring.coreos.com/v1 and a name", m, m.apiVersion(), m.name())
	}
	spec, ok := m.obj["spec"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no spec", m)
	}
	data, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatalf("marshal spec: %v", err)
	}
	var rs ruleSpec
	if err := yaml.UnmarshalStrict(data, &rs, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("%s: spec: %v", m, err)
	}
	if len(rs.Groups) == 0 {
		t.Fatalf("%s: spec.groups: got none, want the shop's groups", m)
	}
	return m, data, rs
}

// TestAlerts_offByDefault: the defaults render no PrometheusRule (its CRD
// may not be installed).
func TestAlerts_offByDefault(t *testing.T) {
	t.Parallel()
	if rules := prometheusRules(t); len(rules) != 0 {
		t.Errorf("PrometheusRules with the defaults: got %v, want none", rules)
	}
}

// TestAlerts_promtoolRuleTests writes the rendered rules where
// testdata/alerts_test.yaml expects them, then runs `promtool check rules`
// and `promtool test rules`: each alert fires on its input series and stays
// quiet on the others.
func TestAlerts_promtoolRuleTests(t *testing.T) {
	t.Parallel()
	promtool := promtoolBinary(t)
	_, rules, _ := theRule(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range shopAlerts {
		if !strings.Contains(string(tests), "alertname: "+a+"\n") {
			t.Errorf("testdata/alerts_test.yaml: no test of %s", a)
		}
	}
	testFile := filepath.Join(dir, "alerts_test.yaml")
	if err := os.WriteFile(testFile, tests, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCommand(promtool, "check", "rules", filepath.Join(dir, "rules.yaml")); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := runCommand(promtool, "test", "rules", testFile); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestAlerts_eachHasARunbook: every alert has a summary, a description, a
// severity and a runbook_url into docs/operations.md at a heading that
// exists, under "## Alerts".
func TestAlerts_eachHasARunbook(t *testing.T) {
	t.Parallel()
	_, _, rs := theRule(t)
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, alertsSection, ok := strings.Cut(string(doc), "\n## Alerts\n")
	if !ok {
		t.Fatal("docs/operations.md: no ## Alerts section")
	}
	alertsSection, _, _ = strings.Cut(alertsSection, "\n## ")
	anchors := headingAnchors(alertsSection)
	const base = "https://github.com/scalable-shop/scalable-shop/blob/main/docs/operations.md#"
	var got []string
	for _, g := range rs.Groups {
		for _, r := range g.Rules {
			got = append(got, r.Alert)
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: got annotations %v, want a summary and a description", r.Alert, r.Annotations)
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", r.Alert, s)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], base)
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q, want %s<a heading under ## Alerts> (have %v)", r.Alert, r.Annotations["runbook_url"], base, sortedKeys(anchors))
			}
		}
	}
	if !slices.Equal(got, shopAlerts) {
		t.Errorf("alerts: got %v, want %v", got, shopAlerts)
	}
}

// TestAlerts_valuesReachTheRules: the PrometheusRule's labels, every
// alert's extra labels and the runbook base come from values; the burn
// rates measure against the default objective, 99.5%. (A fraction cannot
// be given with --set, which passes it as a string: a values file or
// --set-json can.)
func TestAlerts_valuesReachTheRules(t *testing.T) {
	t.Parallel()
	m, _, rs := theRule(t, "alerts.labels.release=prometheus", "alerts.alertLabels.team=shop",
		"alerts.runbookBaseURL=https://runbooks.example.com/shop")
	meta, _ := m.obj["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels["release"] != "prometheus" {
		t.Errorf("%s: labels %v, want release=prometheus", m, labels)
	}
	for _, g := range rs.Groups {
		for _, r := range g.Rules {
			if r.Labels["team"] != "shop" {
				t.Errorf("%s: labels %v, want team=shop", r.Alert, r.Labels)
			}
			if want := "https://runbooks.example.com/shop#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if strings.HasPrefix(r.Alert, "ShopBuy") && !strings.Contains(r.Expr, "(1 - 0.995)") {
				t.Errorf("%s: expr %q, want the budget (1 - 0.995)", r.Alert, r.Expr)
			}
		}
	}
}
