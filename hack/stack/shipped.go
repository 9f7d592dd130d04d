package stack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

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

// goRuntimeVars are the Go runtime's variables the shipped manifests set
// on the functions: the collector's target and soft memory limit.
var goRuntimeVars = []string{"GOGC", "GOMEMLIMIT"}

// ShippedGoRuntimeEnv returns the GOGC and GOMEMLIMIT that the Knative
// Service name of configDir (config/*.yaml) gives its container, as
// KEY=VALUE, so that `make run` and `make bench` run the functions as they
// are shipped.
func ShippedGoRuntimeEnv(configDir, name string) ([]string, error) {
	docs, err := ShippedDocuments(configDir, "Service", name)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s: %d Services named %s, want 1", configDir, len(docs), name)
	}
	var svc struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct{ Name, Value string } `json:"env"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(docs[0], &svc); err != nil {
		return nil, fmt.Errorf("Service %s: %w", name, err)
	}
	var env []string
	for _, c := range svc.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if slices.Contains(goRuntimeVars, e.Name) {
				env = append(env, e.Name+"="+e.Value)
			}
		}
	}
	if len(env) != len(goRuntimeVars) {
		return nil, fmt.Errorf("Service %s: got %q, want a value of each of %v", name, env, goRuntimeVars)
	}
	return env, nil
}
