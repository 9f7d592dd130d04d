package manifest

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// versionVar is the variable the ldflags stamp the version into.
const versionVar = modulePath + "/functions/internal/buildinfo.Version"

// koConfig is the part of ko's configuration (ko v0.19 options.BuildOptions and
// build.Config) the project uses; unknown keys fail.
type koConfig struct {
	DefaultBaseImage   string            `json:"defaultBaseImage"`
	BaseImageOverrides map[string]string `json:"baseImageOverrides,omitempty"`
	DefaultPlatforms   []string          `json:"defaultPlatforms"`
	Builds             []koBuild         `json:"builds"`
}

// koBuild is one entry of builds: in ko.yaml.
type koBuild struct {
	ID      string   `json:"id"`
	Dir     string   `json:"dir"`
	Main    string   `json:"main"`
	Env     []string `json:"env"`
	Flags   []string `json:"flags,omitempty"`
	Ldflags []string `json:"ldflags"`
}

// importPath is the Go import path the build's main package has.
func (b koBuild) importPath() string {
	return path.Join(modulePath, filepath.ToSlash(filepath.Clean(filepath.Join(b.Dir, b.Main))))
}

// renderLdflags applies ko's templating, with the data ko passes (missing
// keys fail, as in ko), and joins the flags the way ko does.
func (b koBuild) renderLdflags(tag, commit string) (string, error) {
	data := map[string]any{
		"Env":   map[string]string{},
		"GoEnv": map[string]string{},
		"Git": map[string]any{
			"Branch": "main", "Tag": tag, "ShortCommit": commit, "FullCommit": commit + strings.Repeat("0", 33),
			"CommitDate": "2026-01-01T00:00:00Z", "CommitTimestamp": int64(1767225600),
			"IsDirty": false, "IsClean": true, "TreeState": "clean",
		},
		"Date":      "2026-01-01T00:00:00Z",
		"Timestamp": int64(1767225600),
	}
	var out []string
	for _, f := range b.Ldflags {
		tmpl, err := template.New("ldflags").Option("missingkey=error").Parse(f)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			return "", err
		}
		out = append(out, buf.String())
	}
	return strings.Join(out, " "), nil
}

func loadKoConfig(t testing.TB) koConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "ko.yaml"))
	if err != nil {
		t.Fatalf("read ko.yaml: %v", err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatalf("ko.yaml: %v", err)
	}
	var cfg koConfig
	strictErrs, err := kjson.UnmarshalStrict(js, &cfg)
	if err != nil || len(strictErrs) > 0 {
		t.Fatalf("ko.yaml: got %v %v, want a valid ko configuration", err, strictErrs)
	}
	return cfg
}

// TestKoConfig_staticNonRootMultiArch checks the base image, platforms and
// each build's environment and flags.
func TestKoConfig_staticNonRootMultiArch(t *testing.T) {
	t.Parallel()
	cfg := loadKoConfig(t)
	base := cfg.DefaultBaseImage
	if !(strings.Contains(base, "distroless/static") && strings.Contains(base, "nonroot")) && !strings.HasPrefix(base, "cgr.dev/chainguard/static") {
		t.Errorf("defaultBaseImage: got %q, want distroless static :nonroot or Chainguard static", base)
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(cfg.DefaultPlatforms, want) {
		t.Errorf("defaultPlatforms: got %v, want %v", cfg.DefaultPlatforms, want)
	}
	if len(cfg.Builds) == 0 {
		t.Fatal("builds: got none, want one per function")
	}
	for _, b := range cfg.Builds {
		t.Run(b.ID, func(t *testing.T) {
			if !slices.Contains(b.Env, "CGO_ENABLED=0") {
				t.Errorf("env: got %v, want CGO_ENABLED=0", b.Env)
			}
			flags, err := b.renderLdflags("v1.2.3", "abc1234")
			if err != nil {
				t.Fatalf("ldflags templates: got %v, want them to execute with ko's data", err)
			}
			fields := strings.Fields(flags)
			if !slices.Contains(fields, "-s") || !slices.Contains(fields, "-w") {
				t.Errorf("ldflags: got %q, want -s and -w", flags)
			}
			if want := "-X " + versionVar + "=v1.2.3-abc1234"; !strings.Contains(flags, want) {
				t.Errorf("ldflags: got %q, want %q", flags, want)
			}
		})
	}
}

// TestKoConfig_versionVariableExists checks the -X target is a string variable.
func TestKoConfig_versionVariableExists(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "functions", "internal", "buildinfo")
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", dir, err)
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
					for _, s := range g.Specs {
						vs := s.(*ast.ValueSpec)
						if len(vs.Names) == 1 && vs.Names[0].Name == "Version" && len(vs.Values) == 1 {
							if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								return
							}
						}
					}
				}
			}
		}
	}
	t.Errorf("%s: got no `var Version = \"...\"`, want the string variable -X stamps", versionVar)
}

// koImages collects every ko:// reference in the shipped manifests.
func koImages(t testing.TB) []string {
	t.Helper()
	var refs []string
	for _, m := range shippedManifests(t) {
		walkStrings(m.obj, func(s string) {
			if strings.HasPrefix(s, "ko://") && !slices.Contains(refs, s) {
				refs = append(refs, s)
			}
		})
	}
	slices.Sort(refs)
	return refs
}

// koTools are the images ko.yaml builds that no manifest of config/ names:
// the operator's tool, run by hand as a Job (docs/operations.md).
var koTools = []string{"ko://github.com/scalable-shop/scalable-shop/cmd/shopctl"}

// TestKoConfig_coversEveryImage requires one build per ko:// image and per
// operator's tool, and no other.
func TestKoConfig_coversEveryImage(t *testing.T) {
	t.Parallel()
	var built []string
	for _, b := range loadKoConfig(t).Builds {
		built = append(built, "ko://"+b.importPath())
	}
	slices.Sort(built)
	want := slices.Sorted(slices.Values(append(koImages(t), koTools...)))
	if !slices.Equal(want, built) {
		t.Errorf("ko.yaml builds: got %v, want the ko:// images of config/ and the tools: %v", built, want)
	}
}

// functionsPresent reports whether the build's main directory exists; without
// it the test fails unless ALLOW_MISSING_FUNCTIONS=1 (skip).
func functionsPresent(t *testing.T, b koBuild) bool {
	t.Helper()
	dir := filepath.Join(repoRoot(t), b.Dir, b.Main)
	if _, err := os.Stat(dir); err == nil {
		return true
	}
	if os.Getenv("ALLOW_MISSING_FUNCTIONS") == "1" {
		t.Skipf("%s does not exist yet (ALLOW_MISSING_FUNCTIONS=1)", dir)
	}
	t.Fatalf("%s: got no such directory, want the function's main package", dir)
	return false
}

// TestKoImages_areMainPackages runs `go list` on every ko:// import path.
func TestKoImages_areMainPackages(t *testing.T) {
	t.Parallel()
	for _, b := range loadKoConfig(t).Builds {
		t.Run(b.ID, func(t *testing.T) {
			t.Parallel()
			functionsPresent(t, b)
			out, err := goCommand(repoRoot(t), nil, "list", "-f", "{{.Name}}", b.importPath())
			if err != nil {
				t.Fatalf("go list %s: %v", b.importPath(), err)
			}
			if got := strings.TrimSpace(string(out)); got != "main" {
				t.Errorf("package %s: got %q, want main", b.importPath(), got)
			}
		})
	}
}

// goCommand runs the go tool in dir with extra environment.
func goCommand(dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
