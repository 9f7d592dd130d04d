package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestModuleRoot_isTheRepositoryRoot runs in hack/loadgen, inside the hack
// module: the root must still be the repository's, where ./functions/... and
// ./hack/devstack build from.
func TestModuleRoot_isTheRepositoryRoot(t *testing.T) {
	if os.Getenv("GOWORK") == "off" {
		t.Skip("GOWORK=off: loadgen builds the functions and devstack from the workspace's root")
	}
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	root, err := moduleRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if root != want {
		t.Errorf("moduleRoot: got %s, want the repository root %s", root, want)
	}
	if _, err := os.Stat(filepath.Join(root, "functions", "cm-server")); err != nil {
		t.Errorf("moduleRoot: %s has no functions/cm-server: %v", root, err)
	}
}
