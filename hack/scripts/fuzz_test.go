// Package scripts holds the tests of hack/'s shell scripts.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo is a `go` that fuzz.sh finds first on PATH. Each call appends a
// line to calls; MODE decides what the call does:
//   - pass: succeeds;
//   - race: the first call fails as Go 1.26's -fuzztime race does
//     (golang/go#75804: "--- FAIL" then a bare "context deadline exceeded",
//     no input written), later calls succeed;
//   - racetwice: every call fails that way;
//   - crash: writes a failing input to the corpus and fails with the same
//     lines, as a target whose own deadline ran out would;
//   - build: fails as a compile error does.
const fakeGo = `#!/usr/bin/env bash
echo "$*" >> "$CALLS"
n=$(wc -l < "$CALLS")
name=$(printf '%s\n' "$@" | grep -m1 '^\^Fuzz' | tr -d '^$')
race() { printf 'fuzz: elapsed: 10s\n--- FAIL: %s (10.14s)\n    context deadline exceeded\nFAIL\n' "$name"; exit 1; }
case "$MODE" in
  race) [ "$n" -eq 1 ] && race ;;
  racetwice) race ;;
  crash) mkdir -p "functions/pkg/testdata/fuzz/$name" && echo 'go test fuzz v1' > "functions/pkg/testdata/fuzz/$name/0123abcd"; race ;;
  build) echo './x.go:1:1: syntax error' >&2; exit 1 ;;
esac
echo PASS
`

// runFuzzSh runs a copy of hack/fuzz.sh in a repository of one fuzz target,
// FuzzX in pkg/, with the fake go, and returns its exit code, output and
// the go calls it made.
func runFuzzSh(t *testing.T, mode string) (int, string, []string) {
	t.Helper()
	script, err := os.ReadFile("../fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	bin := t.TempDir()
	files := map[string]string{
		filepath.Join(repo, "hack", "fuzz.sh"):               string(script),
		filepath.Join(repo, "functions", "pkg", "x_test.go"): "package pkg\n\nfunc FuzzX(f *testing.F) {}\n",
		filepath.Join(bin, "go"):                             fakeGo,
	}
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	calls := filepath.Join(bin, "calls")
	cmd := exec.Command("bash", filepath.Join(repo, "hack", "fuzz.sh"))
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"MODE="+mode, "CALLS="+calls, "FUZZTIME=10s")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run fuzz.sh: %v", err)
		}
		code = ee.ExitCode()
	}
	made, err := os.ReadFile(calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return code, string(out), strings.FieldsFunc(string(made), func(r rune) bool { return r == '\n' })
}

func TestFuzzSh_retriesGosFuzztimeRaceOnce(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		wantCode  int
		wantCalls int
		wantRetry bool
	}{
		{mode: "pass", wantCode: 0, wantCalls: 1},
		{mode: "race", wantCode: 0, wantCalls: 2, wantRetry: true},
		{mode: "racetwice", wantCode: 1, wantCalls: 2, wantRetry: true},
		{mode: "crash", wantCode: 1, wantCalls: 1},
		{mode: "build", wantCode: 1, wantCalls: 1},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			code, out, calls := runFuzzSh(t, tc.mode)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			if len(calls) != tc.wantCalls {
				t.Errorf("go called %d times, want %d: %q", len(calls), tc.wantCalls, calls)
			}
			for _, c := range calls {
				if !strings.Contains(c, "-fuzz ^FuzzX$") || !strings.HasSuffix(c, "./functions/pkg") {
					t.Errorf("go called as %q, want the FuzzX target in ./functions/pkg", c)
				}
			}
			if retried := strings.Contains(out, "golang/go#75804"); retried != tc.wantRetry {
				t.Errorf("said it ran again for golang/go#75804: %t, want %t; output:\n%s", retried, tc.wantRetry, out)
			}
			if tc.wantCode != 0 && !strings.Contains(out, "fuzz: FAILED: FuzzX") {
				t.Errorf("output does not name the failed target:\n%s", out)
			}
		})
	}
}
