package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	modulePath = "github.com/scalable-shop/scalable-shop"
	// testNamespace is the namespace config/ is written for (CM_API_URL names
	// it) and the one the chart is rendered into.
	testNamespace = "shop"
	// releaseName is the Helm release name used for rendering.
	releaseName = "shop"
)

// repoRoot returns the module root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("find repo root: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.Contains(data, []byte("module "+modulePath+"\n")) {
		t.Fatalf("repo root: got %s without go.mod of module %s, want the module root", root, modulePath)
	}
	return root
}

// crdsDir returns the folder with the upstream CRDs: $SHARED_CRDS_DIR, or
// shared/crds beside the clone. It is missing only on a broken checkout, so
// that fails the test (skips under -short).
func crdsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SHARED_CRDS_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "..", "shared", "crds")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if testing.Short() {
			t.Skipf("upstream CRDs not found at %s (skipped under -short)", dir)
		}
		t.Fatalf("upstream CRDs not found at %s: CI lays shared/ beside the clone; "+
			"set SHARED_CRDS_DIR to the folder that holds knative-kafkasink.yaml and the other CRDs", dir)
	}
	return dir
}

// helmBinary finds helm: $HELM, then bin/helm in the repo, then PATH.
func helmBinary(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("HELM"), filepath.Join(repoRoot(t), "bin", "helm")}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if testing.Short() {
		t.Skip("helm not found (skipped under -short)")
	}
	t.Fatalf("helm not found in $HELM, bin/helm or PATH; install the pinned version with " +
		"`GOBIN=$(pwd)/bin go install helm.sh/helm/v3/cmd/helm@v3.22.0`")
	return ""
}

// manifest is one YAML document and where it came from.
type manifest struct {
	source string         // file and document number, for messages
	obj    map[string]any // numbers as int64/float64, as the API server decodes JSON
}

func (m manifest) apiVersion() string { s, _ := m.obj["apiVersion"].(string); return s }
func (m manifest) kind() string       { s, _ := m.obj["kind"].(string); return s }

func (m manifest) name() string {
	meta, _ := m.obj["metadata"].(map[string]any)
	s, _ := meta["name"].(string)
	return s
}

// group returns the API group of the manifest's apiVersion ("" for core).
func (m manifest) group() string {
	if g, _, ok := strings.Cut(m.apiVersion(), "/"); ok {
		return g
	}
	return ""
}

func (m manifest) String() string { return fmt.Sprintf("%s %s (%s)", m.kind(), m.name(), m.source) }

// json returns the manifest as JSON.
func (m manifest) json() []byte {
	data, err := utiljson.Marshal(m.obj)
	if err != nil {
		panic(fmt.Sprintf("marshal %s: %v", m, err)) // a decoded map always marshals
	}
	return data
}

// parseManifests splits a multi-document YAML stream. Duplicate keys fail.
func parseManifests(source string, data []byte) ([]manifest, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []manifest
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read document %d: %w", source, i, err)
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", source, i, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue // only comments
		}
		var obj map[string]any
		if err := utiljson.Unmarshal(js, &obj); err != nil {
			return nil, fmt.Errorf("%s#%d: not an object: %w", source, i, err)
		}
		out = append(out, manifest{source: fmt.Sprintf("%s#%d", source, i), obj: obj})
	}
}

// loadDir parses every .yaml/.yml file directly in dir, relative to the repo.
func loadDir(t testing.TB, rel string) []manifest {
	t.Helper()
	dir := filepath.Join(repoRoot(t), rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []manifest
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("read %s: %v", n, err)
		}
		ms, err := parseManifests(filepath.Join(rel, n), data)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		out = append(out, ms...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: got no manifests, want at least one", rel)
	}
	return out
}

// shippedManifests is what `ko apply -f config/ -f eventing/` applies.
func shippedManifests(t testing.TB) []manifest {
	t.Helper()
	return append(loadDir(t, "config"), loadDir(t, "eventing")...)
}

// helmTemplate renders the chart into testNamespace with extra --set values.
func helmTemplate(t testing.TB, set ...string) ([]manifest, error) {
	t.Helper()
	args := []string{"template", releaseName, filepath.Join(repoRoot(t), "charts", "scalable-shop"),
		"--namespace", testNamespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runCommand(helmBinary(t), args...)
	if err != nil {
		return nil, err
	}
	return parseManifests("helm template "+strings.Join(set, ","), out)
}

// runCommand runs a program and returns stdout; stderr goes into the error.
func runCommand(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
