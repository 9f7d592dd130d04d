package main

import (
	"io/fs"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestOpenAPIAssetsListed keeps the document's list of UI files, which lets
// generated tests (schemathesis) reach them, equal to the embedded files.
func TestOpenAPIAssetsListed(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]struct {
			Get struct {
				Parameters []struct {
					Name   string `json:"name"`
					Schema struct {
						Enum []string `json:"enum"`
					} `json:"schema"`
				} `json:"parameters"`
			} `json:"get"`
		} `json:"paths"`
	}
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, p := range doc.Paths["/assets/{name}"].Get.Parameters {
		if p.Name == "name" {
			documented = p.Schema.Enum
		}
	}
	entries, err := fs.ReadDir(webFiles, "web/assets")
	if err != nil {
		t.Fatal(err)
	}
	var embedded []string
	for _, e := range entries {
		embedded = append(embedded, e.Name())
	}
	slices.Sort(documented)
	if !slices.Equal(documented, embedded) {
		t.Errorf("openapi.yaml /assets/{name} enum: got %v, want the embedded files %v", documented, embedded)
	}
}
