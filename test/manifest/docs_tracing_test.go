package manifest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tracingSection is the heading, in docs/configuration.md, of the table of
// the OpenTelemetry variables. They are not env.Reader settings: the
// telemetry package reads a few to decide whether to export at all, the SDK
// reads the rest from the process environment.
const tracingSection = "Tracing (OpenTelemetry)"

// notPassedOn are the documented tracing variables make run does not pass
// on, and why.
var notPassedOn = map[string]string{"OTEL_SERVICE_NAME": "each function names itself; one name for both would merge them"}

// TestDocs_tracingVariablesAgree: every OTEL_ variable the functions' code
// names is documented; every documented one is an OTEL_ variable that make
// run passes on to the functions (but those in notPassedOn), and make run
// passes on no undocumented one.
func TestDocs_tracingVariablesAgree(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	code := otelLiterals(t, filepath.Join(root, "functions"))
	devstack := otelLiterals(t, filepath.Join(root, "hack", "devstack"))
	for _, n := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
		if !code[n] || !devstack[n] {
			t.Errorf("scan: got no %s in the functions (%v) or hack/devstack (%v), want it in both", n, code[n], devstack[n])
		}
	}
	for _, p := range compareTracing(code, devstack, tracingVariables(t, root)) {
		t.Error(p)
	}
}

// TestDocs_tracingCheckFailsOnAGap guards the comparison.
func TestDocs_tracingCheckFailsOnAGap(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	code := otelLiterals(t, filepath.Join(root, "functions"))
	devstack := otelLiterals(t, filepath.Join(root, "hack", "devstack"))
	doc := tracingVariables(t, root)
	delete(doc, "OTEL_TRACES_EXPORTER")
	doc["NOT_OTEL"] = true
	delete(devstack, "OTEL_TRACES_SAMPLER")
	got := compareTracing(code, devstack, doc)
	want := []string{
		configDoc + " lists NOT_OTEL under " + tracingSection + ", which is no OTEL_ variable",
		configDoc + " lists OTEL_TRACES_SAMPLER under " + tracingSection + ", but make run does not pass it on",
		"hack/devstack passes on OTEL_TRACES_EXPORTER, which " + configDoc + " does not list",
		"the functions read OTEL_TRACES_EXPORTER, but " + configDoc + " does not list it under " + tracingSection,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func compareTracing(code, devstack, doc map[string]bool) []string {
	var problems []string
	for n := range code {
		if !doc[n] {
			problems = append(problems, fmt.Sprintf("the functions read %s, but %s does not list it under %s", n, configDoc, tracingSection))
		}
	}
	for n := range doc {
		switch {
		case !strings.HasPrefix(n, "OTEL_"):
			problems = append(problems, fmt.Sprintf("%s lists %s under %s, which is no OTEL_ variable", configDoc, n, tracingSection))
		case !devstack[n] && notPassedOn[n] == "":
			problems = append(problems, fmt.Sprintf("%s lists %s under %s, but make run does not pass it on", configDoc, n, tracingSection))
		}
	}
	for n := range devstack {
		if !doc[n] {
			problems = append(problems, fmt.Sprintf("hack/devstack passes on %s, which %s does not list", n, configDoc))
		}
	}
	slices.Sort(problems)
	return problems
}

// otelLiterals returns the OTEL_ names written as string literals in the
// non-test Go files under dir.
func otelLiterals(t testing.TB, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, f := range parseGoFiles(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, "OTEL_") && varName.MatchString(s) {
					names[s] = true
				}
			}
			return true
		})
	}
	return names
}

// tracingVariables returns the backticked names in the first cells of the
// table under tracingSection.
func tracingVariables(t testing.TB, root string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, configDoc))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	in := false
	for _, line := range proseLines(string(data)) {
		if h := mdHeading.FindStringSubmatch(line); h != nil && strings.HasPrefix(line, "## ") {
			in = h[1] == tracingSection
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if in && len(cells) >= 2 && strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			for _, n := range mdCodeNames(cells[0]) {
				out[n] = true
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: got no table under ## %s, want one", configDoc, tracingSection)
	}
	return out
}

// parseGoFiles parses the non-test Go files under dir.
func parseGoFiles(t testing.TB, dir string) []*ast.File {
	t.Helper()
	var files []*ast.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		files = append(files, f)
		return err
	})
	if err != nil {
		t.Fatalf("parse %s: %v", dir, err)
	}
	return files
}
