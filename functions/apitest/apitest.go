// Package apitest holds the test helpers both functions share: the check that
// a function's routes and its OpenAPI document describe the same API, a
// function's run started in the test process, requests through a handler,
// an environment given as a map, free ports and readiness polling. Only
// tests import it; it depends on nothing under test/ or hack/, which may use
// it in turn.
package apitest

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type document struct {
	OpenAPI string                               `json:"openapi"`
	Paths   map[string]map[string]map[string]any `json:"paths"`
}

// Operations lists "METHOD /path" for every operation in an OpenAPI document.
func Operations(t testing.TB, spec []byte) []string {
	t.Helper()
	var doc document
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi: got %q, want 3.x", doc.OpenAPI)
	}
	var ops []string
	for path, methods := range doc.Paths {
		for method, op := range methods {
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s: no responses documented", method, path)
			}
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// PatternOperation turns a ServeMux pattern into "METHOD /path" as OpenAPI
// writes it: "GET /{$}" -> "GET /".
func PatternOperation(pattern string) string {
	return strings.TrimSuffix(pattern, "{$}")
}

// RoutesMatch fails t unless the mux patterns and the document's operations
// are the same set.
func RoutesMatch(t testing.TB, spec []byte, patterns []string) {
	t.Helper()
	routed := map[string]bool{}
	for _, p := range patterns {
		routed[PatternOperation(p)] = true
	}
	documented := map[string]bool{}
	for _, op := range Operations(t, spec) {
		documented[op] = true
		if !routed[op] {
			t.Errorf("documented but not routed: %s", op)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(routed)) {
		if !documented[op] {
			t.Errorf("routed but not documented: %s", op)
		}
	}
}
