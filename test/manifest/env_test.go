package manifest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// envRead matches a variable read through functions/internal/env's Reader,
// e.g. r.String("KAFKA_TOPIC", "purchases").
var envRead = regexp.MustCompile(`\.(?:String|List|Bool|Duration|Int|Float)\("([A-Z][A-Z0-9_]*)"`)

var (
	knownEnvOnce sync.Once
	knownEnvSet  map[string]map[string]bool // function -> variables it reads
	knownEnvErr  error
)

// knownEnv returns the variables each function reads: those its own package
// and functions/internal read (the shared broker settings live there).
func knownEnv(t testing.TB) map[string]map[string]bool {
	t.Helper()
	root := repoRoot(t)
	knownEnvOnce.Do(func() {
		read := func(dir string, recursive bool) (map[string]bool, error) {
			names := map[string]bool{}
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() && p != dir && !recursive {
					return filepath.SkipDir
				}
				if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
					return nil
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for _, m := range envRead.FindAllSubmatch(data, -1) {
					names[string(m[1])] = true
				}
				return nil
			})
			return names, err
		}
		shared, err := read(filepath.Join(root, "functions", "internal"), true)
		if err != nil {
			knownEnvErr = err
			return
		}
		knownEnvSet = map[string]map[string]bool{}
		for _, fn := range []string{"cm-server", "cm-api"} {
			own, err := read(filepath.Join(root, "functions", fn), false)
			if err != nil {
				knownEnvErr = err
				return
			}
			for k := range shared {
				own[k] = true
			}
			knownEnvSet[fn] = own
		}
	})
	if knownEnvErr != nil {
		t.Fatalf("read the functions' variables: %v", knownEnvErr)
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
// functions' reads stop matching envRead, checkEnvKnown would reject everything.
func TestKnownEnv_readsTheSecuritySettings(t *testing.T) {
	t.Parallel()
	known := knownEnv(t)
	want := map[string][]string{
		"cm-server": {"API_KEYS", "BUY_RATE_LIMIT", "BUY_RATE_BURST", "TRUST_FORWARDED_FOR", "KAFKA_SASL_PASSWORD", "KAFKA_TLS_CA_FILE"},
		"cm-api":    {"MONGODB_URI", "MONGODB_USERNAME", "MONGODB_PASSWORD", "MONGODB_AUTH_SOURCE", "KAFKA_SASL_MECHANISM"},
	}
	for fn, names := range want {
		for _, n := range names {
			if !known[fn][n] {
				t.Errorf("%s reads: got no %s, want it (scan of functions/ broken?)", fn, n)
			}
		}
	}
}
