package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFunctions_buildStaticForEveryPlatform builds each ko build for each
// default platform with the ko.yaml environment and ldflags, as ko would (ko
// itself needs its base image from a registry). The binary must be static and
// carry the stamped version.
func TestFunctions_buildStaticForEveryPlatform(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("full cross builds skipped under -short")
	}
	cfg := loadKoConfig(t)
	root := repoRoot(t)
	for _, b := range cfg.Builds {
		for _, platform := range cfg.DefaultPlatforms {
			t.Run(b.ID+"_"+strings.ReplaceAll(platform, "/", "_"), func(t *testing.T) {
				t.Parallel()
				functionsPresent(t, b)
				goos, goarch, _ := strings.Cut(platform, "/")
				const version = "v0.0.0-test-abcdef0"
				ldflags, err := b.renderLdflags("v0.0.0-test", "abcdef0")
				if err != nil {
					t.Fatalf("ldflags: %v", err)
				}
				out := filepath.Join(t.TempDir(), b.ID)
				env := append([]string{"GOOS=" + goos, "GOARCH=" + goarch}, b.Env...)
				if _, err := goCommand(filepath.Join(root, b.Dir), env, "build", "-trimpath", "-ldflags="+ldflags, "-o", out, b.Main); err != nil {
					t.Fatalf("build for %s: got %v, want success", platform, err)
				}
				info, err := goCommand(root, nil, "version", "-m", out)
				if err != nil {
					t.Fatalf("go version -m: %v", err)
				}
				// -trimpath keeps -ldflags out of the build info; the version
				// string in the binary proves the stamp below.
				for _, want := range []string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch} {
					if !strings.Contains(string(info), want) {
						t.Errorf("build info: got\n%s\nwant it to contain %q", info, want)
					}
				}
				bin, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(bin, []byte(version)) {
					t.Errorf("binary: got no %q in it, want the stamped version", version)
				}
			})
		}
	}
}
