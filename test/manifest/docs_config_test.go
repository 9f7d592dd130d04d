package manifest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// configDoc is the guide that lists every variable.
const configDoc = "docs/configuration.md"

// varName is what an environment variable's name looks like.
var varName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// TestDocs_configurationListsEveryVariable compares, per reader (cm-server,
// cm-api, make run), the variables the code reads with those
// docs/configuration.md lists, in both directions.
func TestDocs_configurationListsEveryVariable(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	code := codeVariables(t, root)
	// Guard the scan: a few variables each reader surely reads.
	for reader, names := range map[string][]string{
		"cm-server": {"PORT", "K_SINK", "API_KEYS", "KAFKA_SASL_PASSWORD"},
		"cm-api":    {"MONGODB_URI", "KAFKA_INFLIGHT", "KAFKA_TLS_CA_FILE"},
		"make run":  {"KAFKA_BROKERS", "MONGODB_URI"},
	} {
		for _, n := range names {
			if !code[reader][n] {
				t.Errorf("scan of the code: got no %s for %s, want it (did the way config is read change?)", n, reader)
			}
		}
	}
	for _, problem := range compareVariables(code, documentedVariables(t, root)) {
		t.Error(problem)
	}
}

// TestDocs_configurationCheckFailsOnAGap guards the comparison: the real
// lists with one variable left out of the documentation, or one too many,
// must each fail.
func TestDocs_configurationCheckFailsOnAGap(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	code := codeVariables(t, root)
	doc := documentedVariables(t, root)
	delete(doc["cm-api"], "BATCH_WRITERS")
	doc["cm-server"]["NOT_READ_BY_ANYONE"] = true
	got := compareVariables(code, doc)
	want := []string{
		"cm-api reads BATCH_WRITERS, but " + configDoc + " does not list it for cm-api",
		configDoc + " lists NOT_READ_BY_ANYONE for cm-server, which does not read it",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// compareVariables returns one problem per variable read but not listed, or
// listed but not read, sorted.
func compareVariables(code, doc map[string]map[string]bool) []string {
	var problems []string
	for reader, names := range code {
		for n := range names {
			if !doc[reader][n] {
				problems = append(problems, fmt.Sprintf("%s reads %s, but %s does not list it for %s", reader, n, configDoc, reader))
			}
		}
	}
	for reader, names := range doc {
		for n := range names {
			if !code[reader][n] {
				problems = append(problems, fmt.Sprintf("%s lists %s for %s, which does not read it", configDoc, n, reader))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// codeVariables finds, by parsing the Go source, the variables each reader
// reads: for a function, the literal names passed to env.Reader's methods
// in its own package and in functions/internal (broker.FromEnv reads the
// shared Kafka settings); for make run, the literal names hack/devstack
// looks up.
func codeVariables(t testing.TB, root string) map[string]map[string]bool {
	t.Helper()
	methods := readerMethods(t, filepath.Join(root, "functions", "internal", "env", "env.go"))
	isRead := func(call *ast.CallExpr) bool {
		sel, ok := call.Fun.(*ast.SelectorExpr)
		return ok && methods[sel.Sel.Name] || isOSLookup(call)
	}
	shared := scanCalls(t, filepath.Join(root, "functions", "internal"), true, isRead)
	out := map[string]map[string]bool{}
	for _, fn := range []string{"cm-server", "cm-api"} {
		own := scanCalls(t, filepath.Join(root, "functions", fn), false, isRead)
		for n := range shared {
			own[n] = true
		}
		out[fn] = own
	}
	// devstack reads through its injected lookup function (and a helper
	// around it), both plain identifiers.
	out["make run"] = scanCalls(t, filepath.Join(root, "hack", "devstack"), false, func(call *ast.CallExpr) bool {
		_, ident := call.Fun.(*ast.Ident)
		return ident || isOSLookup(call)
	})
	return out
}

// readerMethods returns the names of env.Reader's methods that take a
// variable's name first (a parameter named key).
func readerMethods(t testing.TB, envFile string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), envFile, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", envFile, err)
	}
	out := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil || len(fd.Type.Params.List) == 0 || len(fd.Type.Params.List[0].Names) == 0 {
			continue
		}
		if fd.Type.Params.List[0].Names[0].Name == "key" {
			out[fd.Name.Name] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: got no Reader methods taking a key, want String, Int, ...", envFile)
	}
	return out
}

// isOSLookup reports whether call is os.Getenv or os.LookupEnv.
func isOSLookup(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv")
}

// scanCalls returns the variable names passed as the first, literal argument
// of the calls match accepts, in the non-test Go files of dir (and below it
// when recursive).
func scanCalls(t testing.TB, dir string, recursive bool, match func(*ast.CallExpr) bool) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 || !match(call) {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && varName.MatchString(s) {
					names[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return names
}

// documentedVariables reads the tables of docs/configuration.md's sections
// "The functions" and "make run": the backticked names in a row's first cell
// are read by the reader in its second (both = cm-server and cm-api).
func documentedVariables(t testing.TB, root string) map[string]map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, configDoc))
	if err != nil {
		t.Fatalf("read %s: %v", configDoc, err)
	}
	out := map[string]map[string]bool{"cm-server": {}, "cm-api": {}, "make run": {}}
	checked := false
	for _, line := range proseLines(string(data)) {
		if h := mdHeading.FindStringSubmatch(line); h != nil && strings.HasPrefix(line, "## ") {
			checked = h[1] == "The functions" || h[1] == "`make run`"
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if !checked || len(cells) < 2 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue
		}
		readers := []string{strings.TrimSpace(cells[1])}
		if readers[0] == "both" {
			readers = []string{"cm-server", "cm-api"}
		}
		for _, r := range readers {
			if out[r] == nil {
				t.Errorf("%s: %q: got reader %q, want cm-server, cm-api, both or make run", configDoc, line, r)
				continue
			}
			for _, name := range mdCodeNames(cells[0]) {
				out[r][name] = true
			}
		}
	}
	if len(out["cm-server"]) == 0 || len(out["cm-api"]) == 0 || len(out["make run"]) == 0 {
		t.Fatalf("%s: got %v, want tables for cm-server, cm-api and make run", configDoc, out)
	}
	return out
}

// mdCodeNames returns the variable names written in backticks in a cell.
func mdCodeNames(cell string) []string {
	var names []string
	for _, code := range mdCode.FindAllString(cell, -1) {
		if name := strings.Trim(code, "`"); varName.MatchString(name) {
			names = append(names, name)
		}
	}
	return names
}
