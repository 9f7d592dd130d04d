package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docYAMLBlocks returns the ```yaml blocks of a Markdown file as manifests.
func docYAMLBlocks(t testing.TB, rel string) []manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	var out []manifest
	var block []string
	inBlock, start := false, 0
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case !inBlock && strings.TrimSpace(line) == "```yaml":
			inBlock, start, block = true, i+2, nil
		case inBlock && strings.TrimSpace(line) == "```":
			inBlock = false
			ms, err := parseManifests(fmt.Sprintf("%s:%d", rel, start), []byte(strings.Join(block, "\n")))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out = append(out, ms...)
		case inBlock:
			block = append(block, line)
		}
	}
	return out
}

// deployDoc is the guide that asks readers to apply the Kafka and MongoDB
// examples.
const deployDoc = "docs/deploy.md"

// TestDeployDoc_examplesValid validates the manifests the documents ask
// readers to apply (every yaml block of README.md and docs/*.md), and that
// the deploy guide's Kafka cluster is the one config/ points at.
func TestDeployDoc_examplesValid(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	var examples []manifest
	for _, doc := range markdownDocs(t, repoRoot(t)) {
		blocks := docYAMLBlocks(t, doc)
		if doc == deployDoc && len(blocks) == 0 {
			t.Fatalf("%s: got no yaml blocks, want the Kafka and MongoDB examples", doc)
		}
		examples = append(examples, blocks...)
	}
	for _, m := range examples {
		t.Run(m.source, func(t *testing.T) {
			t.Parallel()
			if err := v.validate(m); err != nil {
				t.Errorf("validate: got %v, want no error", err)
			}
		})
	}
	want := configData(shippedManifests(t), "cm-server-config")["KAFKA_BROKERS"]
	for _, k := range bundle(examples).all(strimziAPI, "Kafka") {
		// The guide applies it with `kubectl -n kafka`.
		if got := k.name() + "-kafka-bootstrap.kafka:9092"; got != want {
			t.Errorf("docs Kafka bootstrap: got %s, want %s as in config/cm-server.yaml", got, want)
		}
	}
}
