package stack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// ShippedDocuments returns the YAML documents of kind (and name, unless
// "") in the manifests of eventingDir (eventing/*.yaml), in file order: what
// the stand-ins of the cluster's components (the KafkaSink's, the
// KafkaSource's) take their settings from.
func ShippedDocuments(eventingDir, kind, name string) ([][]byte, error) {
	files, err := filepath.Glob(filepath.Join(eventingDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("%s/*.yaml: %d files, %v", eventingDir, len(files), err)
	}
	var docs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read the shipped manifests: %w", err)
		}
		for _, doc := range bytes.Split(raw, []byte("\n---")) {
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if head.Kind == kind && (name == "" || head.Metadata.Name == name) {
				docs = append(docs, doc)
			}
		}
	}
	return docs, nil
}
