package stack

import (
	"os"
	"path/filepath"
	"testing"
)

// TestShippedKafkaSinkMode reads the shipped KafkaSinks as both stand-ins
// (the end-to-end tests' and the bench's) do: "purchases" is binary, an
// unknown name or one given twice is an error, and a set mode is taken.
func TestShippedKafkaSinkMode(t *testing.T) {
	t.Parallel()
	shipped := filepath.Join("..", "..", "eventing")
	if got, err := ShippedKafkaSinkMode(shipped, "purchases"); err != nil || got != "binary" {
		t.Errorf("purchases: got %q, %v; want binary", got, err)
	}
	if got, err := ShippedKafkaSinkMode(shipped, "no-such-sink"); err == nil {
		t.Errorf("no-such-sink: got %q, want an error", got)
	}
	dir := t.TempDir()
	sinks := "apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata:\n  name: s\nspec:\n  contentMode: structured\n"
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(sinks), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ShippedKafkaSinkMode(dir, "s"); err != nil || got != "structured" {
		t.Errorf("structured: got %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(sinks), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ShippedKafkaSinkMode(dir, "s"); err == nil {
		t.Errorf("two KafkaSinks named s: got %q, want an error", got)
	}
}
