package manifest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
)

var (
	knownEnvOnce sync.Once
	knownEnvSet  map[string]map[string]bool // function -> variables it reads
)

// knownEnv returns the variables each function reads: those its own package
// and functions/internal read (the shared broker settings live there), as
// found by parsing the source (see codeVariables), and the tracing ones.
func knownEnv(t testing.TB) map[string]map[string]bool {
	t.Helper()
	knownEnvOnce.Do(func() {
		knownEnvSet = codeVariables(t, repoRoot(t))
		// Both functions take the OpenTelemetry variables, which the SDK
		// reads itself; TestDocs_tracingVariablesAgree holds the list.
		for n := range tracingVariables(t, repoRoot(t)) {
			knownEnvSet["cm-server"][n], knownEnvSet["cm-api"][n] = true, true
		}
		// The Go runtime reads the collector's settings itself
		// (docs/configuration.md, after the table of the functions).
		for _, n := range []string{"GOGC", "GOMEMLIMIT"} {
			knownEnvSet["cm-server"][n], knownEnvSet["cm-api"][n] = true, true
		}
	})
	if knownEnvSet == nil {
		t.Fatal("read the functions' variables: failed in another test")
	}
	return knownEnvSet
}

// checkEnvKnown requires every variable a manifest gives a function to be one
// the function reads, so that a misspelt API_KEY or KAFKA_SASL_PASSWD fails
// here instead of silently leaving a setting at its default.
func checkEnvKnown(t testing.TB, ms []manifest) []error {
	t.Helper()
	known := knownEnv(t)
	b := bundle(ms)
	ws, err := b.workloads()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, w := range ws {
		reads, ok := known[w.m.name()]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: got no function of that name under functions/", w.m))
			continue
		}
		var unknown []string
		for name := range containerEnv(b, w.containers[0]) {
			if !reads[name] {
				unknown = append(unknown, name)
			}
		}
		sort.Strings(unknown)
		if len(unknown) > 0 {
			errs = append(errs, fmt.Errorf("%s: got variables %v that functions/%s does not read, want only ones it reads", w.m, unknown, w.m.name()))
		}
	}
	return errs
}

// TestKnownEnv_readsTheSecuritySettings guards the scan itself: if the
// functions' reads stop being found, checkEnvKnown would reject everything.
func TestKnownEnv_readsTheSecuritySettings(t *testing.T) {
	t.Parallel()
	known := knownEnv(t)
	want := map[string][]string{
		"cm-server": {"API_KEYS", "BUY_RATE_LIMIT", "BUY_RATE_BURST", "REQUEST_RATE_LIMIT", "REQUEST_RATE_BURST", "AUTH_FAILURE_LIMIT",
			"AUTH_FAILURE_BURST", "FORWARDED_FOR_HOPS", "FORWARDED_FOR_TRUSTED", "KAFKA_SASL_PASSWORD", "KAFKA_TLS_CA_FILE"},
		"cm-api": {"MONGODB_URI", "MONGODB_USERNAME", "MONGODB_PASSWORD", "MONGODB_AUTH_SOURCE", "KAFKA_SASL_MECHANISM"},
	}
	for fn, names := range want {
		for _, n := range names {
			if !known[fn][n] {
				t.Errorf("%s reads: got no %s, want it (scan of functions/ broken?)", fn, n)
			}
		}
	}
}

// TestGoRuntimeEnv_sizedFromTheMemoryLimit: in both modes each function's
// container gets GOGC and a GOMEMLIMIT of 90% of its own memory limit, in
// bytes, whatever unit the limit is written in.
func TestGoRuntimeEnv_sizedFromTheMemoryLimit(t *testing.T) {
	t.Parallel()
	want := map[string]string{"cm-server": "966367641", "cm-api": "1449551462"} // 90% of 1Gi, of 1.5Gi
	for _, mode := range []string{"knative", "kubernetes"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, "mode="+mode, "cmServer.resources.limits.memory=1Gi",
				"cmApi.resources.limits.memory=1.5Gi")
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			b := bundle(ms)
			ws, err := b.workloads()
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, w := range ws {
				if _, ok := want[w.m.name()]; !ok {
					continue
				}
				seen++
				env := containerEnv(b, w.containers[0])
				if env["GOGC"].literal != "400" || env["GOMEMLIMIT"].literal != want[w.m.name()] {
					t.Errorf("%s: got GOGC %q, GOMEMLIMIT %q; want 400, %s", w.m, env["GOGC"].literal,
						env["GOMEMLIMIT"].literal, want[w.m.name()])
				}
			}
			if seen != len(want) {
				t.Errorf("got %d function workloads, want %d", seen, len(want))
			}
		})
	}
}
