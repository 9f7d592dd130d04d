package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	eventingv1alpha1 "knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	"knative.dev/pkg/kmeta"
)

// checkSenderIdentity requires the pieces of sender identity to agree: the
// KafkaSource's sink audience is cm-api's EVENTS_AUDIENCE, cm-api allows
// exactly the subject Knative gives the source's OIDC service account, cm-api
// can reach the API server's discovery with its own token, and every
// EventPolicy names resources of the bundle. With enabled false, none of it
// may be there: cm-api would refuse the events of a source that sends no token.
// (The API server token stays when the read identity needs it.)
func checkSenderIdentity(b bundle, enabled bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	sources := b.all(sourcesAPI, "KafkaSource")
	if len(sources) != 1 {
		return []error{fmt.Errorf("KafkaSources: got %d, want 1", len(sources))}
	}
	source := sources[0]
	audience := str(source, "spec", "sink", "audience")
	api, err := b.workload("cm-api")
	if err != nil {
		return []error{err}
	}
	vars := containerEnv(b, api.containers[0])
	token := apiServerToken(api)
	if !enabled {
		unneeded := token && vars["READS_AUDIENCE"].literal == ""
		if audience != "" || vars["EVENTS_AUDIENCE"].literal != "" || len(b.all(kafkaSinkAPI, "EventPolicy")) > 0 || unneeded {
			fail("sender identity off: got sink audience %q, EVENTS_AUDIENCE %q, %d EventPolicies, API server token without READS_AUDIENCE %v; want none of them",
				audience, vars["EVENTS_AUDIENCE"].literal, len(b.all(kafkaSinkAPI, "EventPolicy")), unneeded)
		}
		return errs
	}
	if audience == "" || vars["EVENTS_AUDIENCE"].literal != audience {
		fail("KafkaSource sink audience %q and cm-api EVENTS_AUDIENCE %q: want the same, set", audience, vars["EVENTS_AUDIENCE"].literal)
	}
	// As knative.dev/eventing pkg/auth/serviceaccount.go
	// GetOIDCServiceAccountNameForResource names it (that package pulls in
	// too much to import here).
	sa := strings.ToLower(kmeta.ChildName(source.name(), "-oidc-sources.knative.dev-KafkaSource"))
	if want := "system:serviceaccount:" + testNamespace + ":" + sa; vars["EVENTS_ALLOWED_SUBJECTS"].literal != want {
		fail("cm-api EVENTS_ALLOWED_SUBJECTS: got %q, want the source's OIDC service account %q", vars["EVENTS_ALLOWED_SUBJECTS"].literal, want)
	}
	if !token {
		fail("cm-api: got no service-account token and cluster CA at %s, want them (discovery at the API server needs them)", serviceAccountDir)
	}
	policies := b.all(kafkaSinkAPI, "EventPolicy")
	if len(policies) != len(b.all(kafkaSinkAPI, "KafkaSink")) {
		fail("EventPolicies: got %d, want one per KafkaSink (%d)", len(policies), len(b.all(kafkaSinkAPI, "KafkaSink")))
	}
	for _, p := range policies {
		var ep eventingv1alpha1.EventPolicy
		if err := json.Unmarshal(p.json(), &ep); err != nil {
			return append(errs, err)
		}
		for _, to := range ep.Spec.To {
			if to.Ref == nil {
				fail("%s: to without a ref", p)
			} else if _, ok := b.get(to.Ref.APIVersion, to.Ref.Kind, to.Ref.Name); !ok {
				fail("%s: to %s %s: not in the bundle", p, to.Ref.Kind, to.Ref.Name)
			}
		}
		for _, from := range ep.Spec.From {
			if from.Ref == nil {
				fail("%s: from without a ref", p)
			} else if _, ok := b.get(from.Ref.APIVersion, from.Ref.Kind, from.Ref.Name); !ok || from.Ref.Namespace != testNamespace {
				fail("%s: from %s %s in %q: want a resource of the bundle in %q", p, from.Ref.Kind, from.Ref.Name, from.Ref.Namespace, testNamespace)
			}
		}
	}
	return errs
}

func TestSenderIdentity_wiredTogether(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		set     []string
		enabled bool
	}{
		{"defaults_off", nil, false},
		{"off_without_read_identity", []string{"readIdentity.enabled=false"}, false},
		{"on", []string{"senderIdentity.enabled=true"}, true},
		{"on_without_read_identity", []string{"senderIdentity.enabled=true", "readIdentity.enabled=false"}, true},
		{"on_own_audience", []string{"senderIdentity.enabled=true", "senderIdentity.audience=cm-api-events"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, c.set...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			for _, err := range checkSenderIdentity(bundle(ms), c.enabled) {
				t.Error(err)
			}
		})
	}
	// The plain manifests ship it off, like the chart's defaults.
	for _, err := range checkSenderIdentity(bundle(shippedManifests(t)), false) {
		t.Errorf("config/ and eventing/: %v", err)
	}
}

// serviceAccountDir is where cm-api reads its token and the cluster CA.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// apiServerToken reports whether w mounts a projected service-account token
// and the cluster CA (kube-root-ca.crt) where cm-api reads them.
func apiServerToken(w workload) bool {
	for _, m := range w.containers[0].VolumeMounts {
		if m.MountPath != serviceAccountDir {
			continue
		}
		for _, v := range w.volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			var token, ca bool
			for _, src := range v.Projected.Sources {
				token = token || (src.ServiceAccountToken != nil && src.ServiceAccountToken.Path == "token")
				ca = ca || (src.ConfigMap != nil && src.ConfigMap.Name == "kube-root-ca.crt")
			}
			return token && ca
		}
	}
	return false
}

// TestSenderIdentity_checkCatchesMismatches breaks the wiring on purpose.
func TestSenderIdentity_checkCatchesMismatches(t *testing.T) {
	t.Parallel()
	ms, err := helmTemplate(t, "senderIdentity.enabled=true")
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	if errs := checkSenderIdentity(bundle(ms), false); len(errs) == 0 {
		t.Error("an enabled bundle checked as off: got no error, want one")
	}
	off, err := helmTemplate(t, "readIdentity.enabled=false") // no API server token either
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	if errs := checkSenderIdentity(bundle(off), true); len(errs) < 3 {
		t.Errorf("a disabled bundle checked as on: got %v, want the audience, subject and token reported", errs)
	}
}

// TestShopperAuth_reachesCMServer: cmServer.shopperAuth becomes cm-server's
// AUTH_* variables, and nothing of it is there by default.
func TestShopperAuth_reachesCMServer(t *testing.T) {
	t.Parallel()
	on, err := helmTemplate(t, shopperAuthValues...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	want := map[string]string{"AUTH_ISSUER_URL": "https://idp.example.com/realms/shop", "AUTH_AUDIENCE": "scalable-shop",
		"AUTH_USERNAME_CLAIM": "sub", "AUTH_ADMIN_CLAIM": "groups", "AUTH_ADMIN_VALUE": "support"}
	got := configData(bundle(on), "cm-server-config")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cm-server-config %s: got %q, want %q", k, got[k], v)
		}
	}
	off, err := helmTemplate(t)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	for k := range want {
		if v, ok := configData(bundle(off), "cm-server-config")[k]; ok {
			t.Errorf("defaults: cm-server-config has %s=%q, want none (user authentication off)", k, v)
		}
	}
}

// TestHelmNotes_senderIdentityNeedsTheClusterFeature: with sender identity
// on, NOTES.txt says how to turn on authentication-oidc; off, it says nothing.
func TestHelmNotes_senderIdentityNeedsTheClusterFeature(t *testing.T) {
	t.Parallel()
	const flag = `"authentication-oidc":"enabled"`
	for _, c := range []struct {
		set  []string
		want bool
	}{{nil, false}, {[]string{"senderIdentity.enabled=true"}, true}} {
		notes, err := helmNotes(t, c.set...)
		if err != nil {
			t.Fatalf("notes %v: %v", c.set, err)
		}
		if got := strings.Contains(notes, flag); got != c.want {
			t.Errorf("notes %v: mention %s: got %v, want %v", c.set, flag, got, c.want)
		}
	}
}
