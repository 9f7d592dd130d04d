package manifest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// namedTest is a test, fuzz target or benchmark a guide names in backticks,
// e.g. `TestSecretsNeverLogged` or `TestX/sub_case`.
var namedTest = regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)(?:/[^`]*)?`")

// definedTest is the declaration of one, at the start of a line.
var definedTest = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)\(`)

// TestDocs_namedTestsExist fails when README.md or a guide in docs/ names
// a test that no _test.go file in the repository declares: a guarantee
// that names the test holding it must name one that runs.
func TestDocs_namedTestsExist(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	defined := definedTests(t, root)
	if len(defined) < 50 {
		t.Fatalf("scan of the tests: got %d, want the repository's tests (did the scan break?)", len(defined))
	}
	for _, problem := range missingTests(t, root, markdownDocs(t, root), defined) {
		t.Error(problem)
	}
}

// TestDocs_namedTestsCheckFindsAGap guards the check with a guide that names
// one test that exists and one that does not.
func TestDocs_namedTestsCheckFindsAGap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := "| guarantee | `TestHere` and `TestGone/case_1` |\n"
	if err := os.WriteFile(filepath.Join(dir, "guide.md"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got := missingTests(t, dir, []string{"guide.md"}, map[string]bool{"TestHere": true})
	want := []string{"guide.md names TestGone, which no _test.go declares"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// definedTests returns the names of every test, fuzz target and benchmark
// declared in a _test.go file under root.
func definedTests(t *testing.T, root string) map[string]bool {
	t.Helper()
	defined := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range definedTest.FindAllSubmatch(data, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan the tests: %v", err)
	}
	return defined
}

// missingTests lists, per guide, the tests it names that are not defined.
func missingTests(t *testing.T, root string, docs []string, defined map[string]bool) []string {
	t.Helper()
	var problems []string
	for _, doc := range docs {
		data, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatalf("read %s: %v", doc, err)
		}
		seen := map[string]bool{}
		for _, m := range namedTest.FindAllStringSubmatch(string(data), -1) {
			if name := m[1]; !defined[name] && !seen[name] {
				seen[name] = true
				problems = append(problems, fmt.Sprintf("%s names %s, which no _test.go declares", doc, name))
			}
		}
	}
	return problems
}
