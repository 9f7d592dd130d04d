package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedDocuments picks the documents by kind, and by name when one is
// given, across files and "---" separators; a document that is not YAML
// is an error, as is a folder without manifests.
func TestShippedDocuments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "kind: KafkaSink\nmetadata:\n  name: one\n---\nkind: KafkaSource\nmetadata:\n  name: src\n")
	write("b.yaml", "kind: KafkaSink\nmetadata:\n  name: two\n")
	for _, tt := range []struct {
		kind, name string
		want       int
	}{{"KafkaSink", "", 2}, {"KafkaSink", "two", 1}, {"KafkaSource", "", 1}, {"KafkaSink", "three", 0}} {
		if docs, err := ShippedDocuments(dir, tt.kind, tt.name); err != nil || len(docs) != tt.want {
			t.Errorf("%s %q: got %d documents, %v; want %d", tt.kind, tt.name, len(docs), err, tt.want)
		}
	}
	if _, err := ShippedDocuments(t.TempDir(), "KafkaSink", ""); err == nil {
		t.Error("a folder without manifests: no error")
	}
	write("c.yaml", "kind: [unclosed\n")
	if _, err := ShippedDocuments(dir, "KafkaSink", ""); err == nil {
		t.Error("a manifest that is not YAML: no error")
	}
}

// TestShippedGoRuntimeEnv: both functions' Services in config/ set GOGC
// and GOMEMLIMIT, and `make run` and `make bench` read them from there.
func TestShippedGoRuntimeEnv(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cm-server", "cm-api"} {
		env, err := ShippedGoRuntimeEnv(filepath.Join("..", "..", "config"), name)
		if err != nil || len(env) != 2 || !strings.HasPrefix(env[0], "GOGC=") || !strings.HasPrefix(env[1], "GOMEMLIMIT=") {
			t.Errorf("%s: got %q, %v; want GOGC=... and GOMEMLIMIT=...", name, env, err)
		}
	}
	if _, err := ShippedGoRuntimeEnv(filepath.Join("..", "..", "config"), "no-such-function"); err == nil {
		t.Error("a Service that is not shipped: no error")
	}
}
