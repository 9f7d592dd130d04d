package manifest

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The repository holds three modules, tied by go.work for development: the
// functions (go.mod at the root, modulePath), the dev stack and load
// generator (hack/go.mod) and these tests with the end-to-end and browser
// tests (test/go.mod). The functions' go.mod is what a copier of the
// functions or a vulnerability scanner reads, so it lists what the functions
// use and nothing else.

// workspaceModules are go.work's modules, each with its module path.
var workspaceModules = map[string]string{
	".":    modulePath,
	"hack": modulePath + "/hack",
	"test": modulePath + "/test",
}

// devOnlyModules are module path prefixes only the dev stack and the tests
// use: the functions' go.mod must not require any of them.
var devOnlyModules = []string{
	"github.com/FerretDB/", "github.com/jackc/pgx", "modernc.org/sqlite",
	"github.com/twmb/franz-go/pkg/kfake", "github.com/chromedp/",
	"k8s.io/", "knative.dev/", "helm.sh/", "sigs.k8s.io/json",
}

// goModFile is the part of `go mod edit -json` (and `go work edit -json`)
// these tests read.
type goModFile struct {
	Module  struct{ Path string }
	Go      string
	Require []struct {
		Path     string
		Version  string
		Indirect bool
	}
	Replace []struct {
		Old struct{ Path string }
		New struct{ Path string }
	}
	Use []struct{ DiskPath string }
}

func readModFile(t *testing.T, dir string, args ...string) goModFile {
	t.Helper()
	// go work edit reads the workspace's go.work even when the tests run
	// with GOWORK=off.
	out, err := goCommand(dir, []string{"GOWORK=" + filepath.Join(repoRoot(t), "go.work")}, args...)
	if err != nil {
		t.Fatal(err)
	}
	var f goModFile
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("go %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return f
}

// TestModules_workspace checks go.work uses the three modules, each go.mod
// its module path and the root's go version, and that hack/ and test/ reach
// the modules they need by replace directives, so each builds without
// go.work too (GOWORK=off go list resolves every package and go.sum entry).
func TestModules_workspace(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	work := readModFile(t, root, "work", "edit", "-json")
	var used []string
	for _, u := range work.Use {
		used = append(used, filepath.Clean(u.DiskPath))
	}
	slices.Sort(used)
	if want := []string{".", "hack", "test"}; !slices.Equal(used, want) {
		t.Errorf("go.work use: got %v, want %v", used, want)
	}
	rootGo := readModFile(t, root, "mod", "edit", "-json").Go
	if !strings.HasPrefix(rootGo, "1.26") || work.Go != rootGo {
		t.Errorf("go versions: got go.mod %q, go.work %q, want the same go 1.26.x", rootGo, work.Go)
	}
	for dir, path := range workspaceModules {
		t.Run(strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			t.Parallel()
			modDir := filepath.Join(root, dir)
			mod := readModFile(t, modDir, "mod", "edit", "-json")
			if mod.Module.Path != path {
				t.Errorf("%s/go.mod: got module %q, want %q", dir, mod.Module.Path, path)
			}
			if mod.Go != rootGo {
				t.Errorf("%s/go.mod: got go %q, want the root's %q", dir, mod.Go, rootGo)
			}
			replaced := map[string]string{}
			for _, r := range mod.Replace {
				replaced[r.Old.Path] = r.New.Path
			}
			for _, r := range mod.Require {
				other, local := "", false
				for d, p := range workspaceModules {
					if p == r.Path {
						other, local = d, true
					}
				}
				if !local {
					continue
				}
				want, err := filepath.Rel(modDir, filepath.Join(root, other))
				if err != nil {
					t.Fatal(err)
				}
				if got := replaced[r.Path]; filepath.Clean(got) != want {
					t.Errorf("%s/go.mod: requires %s replaced by %q, want %q (its folder here)", dir, r.Path, got, want)
				}
			}
			if _, err := goCommand(modDir, []string{"GOWORK=off", "GOFLAGS=-mod=readonly"}, "list", "-deps", "-test", "./..."); err != nil {
				t.Errorf("%s without go.work: %v", dir, err)
			}
		})
	}
}

// TestModules_functionsStandAlone checks the functions' module: its packages
// and their tests import nothing under hack/ or test/, build with the same
// module versions in the workspace as alone (so what the tests run is what
// ships), and its go.mod requires directly only modules whose packages they
// import, and none of the dev stack's or the tests'.
func TestModules_functionsStandAlone(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	list := func(gowork string) (pkgs []string, mods map[string]string) {
		t.Helper()
		out, err := goCommand(root, []string{"GOWORK=" + gowork}, "list", "-deps", "-test",
			"-f", "{{.ImportPath}} {{with .Module}}{{.Path}} {{.Version}}{{end}}", "./functions/...")
		if err != nil {
			t.Fatal(err)
		}
		mods = map[string]string{}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			pkgs = append(pkgs, f[0])
			if len(f) == 3 {
				mods[f[1]] = f[2]
			} else if len(f) == 2 {
				mods[f[1]] = ""
			}
		}
		return pkgs, mods
	}
	wsPkgs, wsMods := list(filepath.Join(root, "go.work"))
	for _, p := range wsPkgs {
		if strings.HasPrefix(p, modulePath+"/hack/") || strings.HasPrefix(p, modulePath+"/test/") {
			t.Errorf("functions: import %s, want nothing from the dev stack's or the tests' modules", p)
		}
	}
	_, aloneMods := list("off")
	for m, v := range aloneMods {
		if wsMods[m] != v {
			t.Errorf("module %s: got %q in the workspace, %q in the functions' module alone, want the same", m, wsMods[m], v)
		}
	}
	for m := range wsMods {
		if _, ok := aloneMods[m]; !ok {
			t.Errorf("module %s: in the functions' build in the workspace only", m)
		}
	}
	for _, r := range readModFile(t, root, "mod", "edit", "-json").Require {
		for _, dev := range devOnlyModules {
			if strings.HasPrefix(r.Path, dev) {
				t.Errorf("go.mod: requires %s, want it only in hack/go.mod or test/go.mod", r.Path)
			}
		}
		if _, used := aloneMods[r.Path]; !r.Indirect && !used {
			t.Errorf("go.mod: requires %s directly, but no package of the functions or their tests imports it", r.Path)
		}
	}
}
