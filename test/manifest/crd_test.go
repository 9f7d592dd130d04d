package manifest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// crdVersion is one served version of a CRD, compiled the way the API server
// compiles it.
type crdVersion struct {
	structural *structuralschema.Structural
	schema     validation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no x-kubernetes-validations
}

// crd is a CustomResourceDefinition reduced to what validation needs.
type crd struct {
	file     string
	served   map[string]*crdVersion // by version name
	versions []string               // every version, served or not
}

// crdRegistry maps group and kind to the CRD that defines them.
type crdRegistry map[schema.GroupKind]*crd

var (
	crdOnce  sync.Once
	crdCache crdRegistry
	crdErr   error
)

// upstreamCRDs loads the shared CRDs once per test binary.
func upstreamCRDs(t testing.TB) crdRegistry {
	t.Helper()
	dir := crdsDir(t)
	crdOnce.Do(func() { crdCache, crdErr = loadCRDs(dir) })
	if crdErr != nil {
		t.Fatalf("load CRDs from %s: %v", dir, crdErr)
	}
	return crdCache
}

// loadCRDs compiles every CustomResourceDefinition in the *.yaml files of dir.
func loadCRDs(dir string) (crdRegistry, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	reg := crdRegistry{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		docs, err := parseManifests(filepath.Base(f), data)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if d.kind() != "CustomResourceDefinition" {
				continue
			}
			var def apiextv1.CustomResourceDefinition
			if err := yaml.Unmarshal(d.json(), &def); err != nil {
				return nil, fmt.Errorf("%s: %w", d.source, err)
			}
			c, err := compileCRD(filepath.Base(f), &def)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.source, err)
			}
			reg[schema.GroupKind{Group: def.Spec.Group, Kind: def.Spec.Names.Kind}] = c
		}
	}
	if len(reg) == 0 {
		return nil, fmt.Errorf("no CustomResourceDefinition in %s", dir)
	}
	return reg, nil
}

func compileCRD(file string, def *apiextv1.CustomResourceDefinition) (*crd, error) {
	c := &crd{file: file, served: map[string]*crdVersion{}}
	for _, v := range def.Spec.Versions {
		c.versions = append(c.versions, v.Name)
		if !v.Served {
			continue
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("version %s has no schema", v.Name)
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("convert schema of %s: %w", v.Name, err)
		}
		structural, err := structuralschema.NewStructural(internal)
		if err != nil {
			return nil, fmt.Errorf("structural schema of %s: %w", v.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(internal)
		if err != nil {
			return nil, fmt.Errorf("schema validator of %s: %w", v.Name, err)
		}
		c.served[v.Name] = &crdVersion{
			structural: structural,
			schema:     validator,
			cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
		}
	}
	return c, nil
}

// validate checks a custom resource as the API server does on create with
// strict field validation: served version, metadata, unknown fields (pruning),
// defaulting, OpenAPI schema, list types and CEL rules.
func (c *crd) validate(m manifest) error {
	_, version, _ := strings.Cut(m.apiVersion(), "/")
	v, ok := c.served[version]
	if !ok {
		return fmt.Errorf("%s: apiVersion %s is not served by the CRD in %s (versions %v)", m, m.apiVersion(), c.file, c.versions)
	}
	obj := runtime.DeepCopyJSON(m.obj)
	var errs field.ErrorList
	errs = append(errs, validateCRMeta(obj)...)
	unknown := pruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(p), nil, "unknown field"))
	}
	structuraldefaulting.Default(obj, v.structural)
	errs = append(errs, validation.ValidateCustomResource(nil, obj, v.schema)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	if v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", m, errs.ToAggregate())
	}
	return nil
}

// validateCRMeta checks metadata as the API server does for custom resources;
// the namespace is the one kubectl would fill in.
func validateCRMeta(obj map[string]any) field.ErrorList {
	meta, found, unknown, err := objectmeta.GetObjectMetaWithOptions(obj, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	if !found {
		return field.ErrorList{field.Required(field.NewPath("metadata"), "")}
	}
	var errs field.ErrorList
	for _, p := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(p), nil, "unknown field"))
	}
	if meta.Namespace == "" {
		meta.Namespace = testNamespace
	}
	errs = append(errs, apimachineryvalidation.ValidateObjectMeta(meta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	return errs
}

// TestUpstreamCRDsLoad_everyKindTheShopUses checks the registry itself, so a
// missing or renamed CRD file fails loudly rather than as "no schema".
func TestUpstreamCRDsLoad_everyKindTheShopUses(t *testing.T) {
	t.Parallel()
	reg := upstreamCRDs(t)
	want := []schema.GroupVersionKind{
		{Group: "eventing.knative.dev", Version: "v1alpha1", Kind: "KafkaSink"},
		{Group: "sources.knative.dev", Version: "v1", Kind: "KafkaSource"},
		{Group: "kafka.strimzi.io", Version: "v1", Kind: "Kafka"},
		{Group: "kafka.strimzi.io", Version: "v1", Kind: "KafkaNodePool"},
		{Group: "kafka.strimzi.io", Version: "v1", Kind: "KafkaTopic"},
		{Group: "mongodbcommunity.mongodb.com", Version: "v1", Kind: "MongoDBCommunity"},
	}
	var missing []string
	for _, gvk := range want {
		c, ok := reg[gvk.GroupKind()]
		if !ok || c.served[gvk.Version] == nil {
			missing = append(missing, gvk.String())
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("served CRD versions: got none for %v, want all of %v", missing, want)
	}
}
