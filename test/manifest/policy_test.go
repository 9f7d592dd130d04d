package manifest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// credentialURL matches a URL with a password in it (scheme://user:pass@host).
var credentialURL = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)

// secretEnv are the variables that hold secrets (see the functions' config.go):
// they may reach a container only through valueFrom.secretKeyRef.
var secretEnv = map[string]bool{
	"API_KEYS": true, "KAFKA_SASL_PASSWORD": true, "MONGODB_PASSWORD": true, "MONGODB_URI": true,
}

// isSecretEnv reports whether a variable holds a secret: one of secretEnv, or
// a name that says so, so that a new secret is covered before it is listed.
func isSecretEnv(name string) bool {
	if secretEnv[name] {
		return true
	}
	// A *_FILE holds a path (CM_API_TOKEN_FILE): the secret is the file's
	// content, which comes from a volume, not from the variable.
	if strings.HasSuffix(name, "_FILE") {
		return false
	}
	for _, word := range []string{"PASSWORD", "URI", "TOKEN", "SECRET", "API_KEY", "CREDENTIAL"} {
		if strings.Contains(name, word) {
			return true
		}
	}
	return false
}

// checkPolicy returns every departure from the deployment rules: no secrets,
// probes, requests and limits, a restricted security context, scale to zero.
func checkPolicy(ms []manifest) []error {
	var errs []error
	for _, m := range ms {
		if m.kind() == "Secret" {
			errs = append(errs, fmt.Errorf("%s: got a Secret, want secrets created by a documented command", m))
		}
		walkStrings(m.obj, func(s string) {
			if credentialURL.MatchString(s) {
				errs = append(errs, fmt.Errorf("%s: got a URL with credentials, want them only in a Secret", m))
			}
		})
		if m.apiVersion() == "v1" && m.kind() == "ConfigMap" {
			data, _, _ := nestedMap(m.obj, "data")
			for k := range data {
				if isSecretEnv(k) {
					errs = append(errs, fmt.Errorf("%s: got secret %s in a ConfigMap, want it only from a Secret via secretKeyRef", m, k))
				}
			}
		}
	}
	ws, err := bundle(ms).workloads()
	if err != nil {
		return append(errs, err)
	}
	if len(ws) != 2 {
		errs = append(errs, fmt.Errorf("workloads: got %d, want cm-server and cm-api", len(ws)))
	}
	for _, w := range ws {
		for _, c := range w.containers {
			errs = append(errs, checkContainer(w.m, c)...)
		}
		if w.m.apiVersion() == knativeServiceAPI {
			errs = append(errs, checkRevisionScaling(w.m)...)
		}
	}
	return errs
}

// checkContainer applies the per-container rules.
func checkContainer(m manifest, c corev1.Container) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s container %s: "+format, append([]any{m, c.Name}, args...)...))
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		fail("readinessProbe: got %+v, want httpGet /readyz", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		fail("livenessProbe: got %+v, want httpGet /healthz", c.LivenessProbe)
	}
	for _, list := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		if list.Cpu().IsZero() || list.Memory().IsZero() {
			fail("resources: got %+v, want cpu and memory requests and limits", c.Resources)
			break
		}
	}
	sc := c.SecurityContext
	restricted := sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot &&
		sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem &&
		sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation &&
		sc.Capabilities != nil && len(sc.Capabilities.Add) == 0 && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL" &&
		sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if !restricted {
		fail("securityContext: got %+v, want non-root, read-only root, no privilege escalation, drop ALL, seccomp RuntimeDefault", sc)
	}
	for _, e := range c.Env {
		if isSecretEnv(e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			fail("env %s: got %+v, want only valueFrom.secretKeyRef (never a literal value)", e.Name, e)
		}
	}
	for _, from := range c.EnvFrom {
		if from.SecretRef != nil {
			fail("envFrom: got secretRef %s, want each secret named in env with secretKeyRef", from.SecretRef.Name)
		}
	}
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly {
			fail("volumeMount %s at %s: got writable, want readOnly (the root file system is read-only too)", vm.Name, vm.MountPath)
		}
	}
	return errs
}

// checkRevisionScaling requires the KPA with scale to zero and explicit bounds.
func checkRevisionScaling(m manifest) []error {
	ann := map[string]string{}
	raw, _, _ := nestedMap(m.obj, "spec", "template", "metadata", "annotations")
	for k, v := range raw {
		ann[k] = fmt.Sprint(v)
	}
	const p = "autoscaling.knative.dev/"
	var errs []error
	if ann[p+"class"] != "kpa.autoscaling.knative.dev" || ann[p+"min-scale"] != "0" {
		errs = append(errs, fmt.Errorf("%s: got class %q min-scale %q, want kpa.autoscaling.knative.dev and 0 (scale to zero)", m, ann[p+"class"], ann[p+"min-scale"]))
	}
	for _, k := range []string{"max-scale", "target", "initial-scale", "metric"} {
		if ann[p+k] == "" {
			errs = append(errs, fmt.Errorf("%s: got no %s%s, want it set", m, p, k))
		}
	}
	return errs
}

// nestedMap reads a nested object.
func nestedMap(obj map[string]any, fields ...string) (map[string]any, bool, error) {
	cur := obj
	for _, f := range fields {
		next, ok := cur[f].(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = next
	}
	return cur, true, nil
}

// walkStrings calls fn for every string in a decoded document.
func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case map[string]any:
		for k, x := range v {
			fn(k)
			walkStrings(x, fn)
		}
	case []any:
		for _, x := range v {
			walkStrings(x, fn)
		}
	}
}

// TestShippedManifests_followPolicy applies the deployment rules to config/ and eventing/.
func TestShippedManifests_followPolicy(t *testing.T) {
	t.Parallel()
	for _, err := range checkPolicy(shippedManifests(t)) {
		t.Errorf("policy: got %v, want none", err)
	}
}
