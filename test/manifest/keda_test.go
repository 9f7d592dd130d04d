package manifest

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// scaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject (kedacore/keda
// apis/keda/v1alpha1) the chart may use. The shared CRDs hold no KEDA CRD; add
// keda.sh_scaledobjects.yaml there and the CRD validation takes over.
type scaledObject struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		ScaleTargetRef *struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// kafkaScalerKeys are the trigger metadata keys of KEDA's Kafka scaler.
var kafkaScalerKeys = map[string]bool{
	"bootstrapServers": true, "consumerGroup": true, "topic": true, "lagThreshold": true,
	"activationLagThreshold": true, "offsetResetPolicy": true, "allowIdleConsumers": true,
	"scaleToZeroOnInvalidOffset": true, "excludePersistentLag": true, "limitToPartitionsWithLag": true,
	"partitionLimitation": true, "version": true, "sasl": true, "tls": true,
}

func validateScaledObject(m manifest) error {
	var so scaledObject
	if err := decodeStrict(m, &so); err != nil {
		return err
	}
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(spec.Child("scaleTargetRef", "name"), ""))
	}
	if so.Spec.MinReplicaCount != nil && so.Spec.MaxReplicaCount != nil && *so.Spec.MinReplicaCount > *so.Spec.MaxReplicaCount {
		errs = append(errs, field.Invalid(spec.Child("minReplicaCount"), *so.Spec.MinReplicaCount, "greater than maxReplicaCount"))
	}
	if len(so.Spec.Triggers) == 0 {
		errs = append(errs, field.Required(spec.Child("triggers"), ""))
	}
	for i, tr := range so.Spec.Triggers {
		p := spec.Child("triggers").Index(i)
		if tr.Type != "kafka" {
			errs = append(errs, field.NotSupported(p.Child("type"), tr.Type, []string{"kafka"}))
			continue
		}
		for k := range tr.Metadata {
			if !kafkaScalerKeys[k] {
				errs = append(errs, field.Invalid(p.Child("metadata", k), nil, "unknown kafka scaler key"))
			}
		}
		for _, k := range []string{"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} {
			if tr.Metadata[k] == "" {
				errs = append(errs, field.Required(p.Child("metadata", k), ""))
			}
		}
		if v, ok := tr.Metadata["sasl"]; ok && !kafkaScalerSASL[v] {
			errs = append(errs, field.NotSupported(p.Child("metadata", "sasl"), v, []string{"none", "plaintext", "scram_sha256", "scram_sha512"}))
		}
		if v, ok := tr.Metadata["tls"]; ok && v != "enable" && v != "disable" {
			errs = append(errs, field.NotSupported(p.Child("metadata", "tls"), v, []string{"enable", "disable"}))
		}
		if ref := tr.AuthenticationRef; ref != nil {
			if ref.Name == "" {
				errs = append(errs, field.Required(p.Child("authenticationRef", "name"), ""))
			}
			if ref.Kind != "" && ref.Kind != "TriggerAuthentication" && ref.Kind != "ClusterTriggerAuthentication" {
				errs = append(errs, field.NotSupported(p.Child("authenticationRef", "kind"), ref.Kind, []string{"TriggerAuthentication", "ClusterTriggerAuthentication"}))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", m, errs.ToAggregate())
	}
	return nil
}

// kafkaScalerSASL are the SASL modes of KEDA's Kafka scaler the shop may use.
var kafkaScalerSASL = map[string]bool{"none": true, "plaintext": true, "scram_sha256": true, "scram_sha512": true}

// kafkaAuthParams are the TriggerAuthentication parameters of KEDA's Kafka
// scaler for SASL/PLAIN, SCRAM and TLS.
var kafkaAuthParams = map[string]bool{
	"sasl": true, "username": true, "password": true, "tls": true, "ca": true, "cert": true, "key": true, "keyPassword": true,
}

// triggerAuthentication is the part of KEDA's keda.sh/v1alpha1
// TriggerAuthentication the chart may use: parameters from the scale target's
// environment and from Secrets.
type triggerAuthentication struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Env []struct {
			Parameter     string `json:"parameter"`
			Name          string `json:"name"`
			ContainerName string `json:"containerName,omitempty"`
		} `json:"env,omitempty"`
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef,omitempty"`
	} `json:"spec"`
}

func validateTriggerAuthentication(m manifest) error {
	var ta triggerAuthentication
	if err := decodeStrict(m, &ta); err != nil {
		return err
	}
	var errs field.ErrorList
	spec := field.NewPath("spec")
	params := map[string]bool{}
	check := func(p *field.Path, param string, values map[string]string) {
		if !kafkaAuthParams[param] {
			errs = append(errs, field.NotSupported(p.Child("parameter"), param, []string{"username", "password", "sasl", "tls", "ca", "cert", "key", "keyPassword"}))
		}
		if params[param] {
			errs = append(errs, field.Duplicate(p.Child("parameter"), param))
		}
		params[param] = true
		for k, v := range values {
			if v == "" {
				errs = append(errs, field.Required(p.Child(k), ""))
			}
		}
	}
	for i, e := range ta.Spec.Env {
		check(spec.Child("env").Index(i), e.Parameter, map[string]string{"name": e.Name})
	}
	for i, r := range ta.Spec.SecretTargetRef {
		check(spec.Child("secretTargetRef").Index(i), r.Parameter, map[string]string{"name": r.Name, "key": r.Key})
	}
	if len(params) == 0 {
		errs = append(errs, field.Required(spec, "no parameter"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", m, errs.ToAggregate())
	}
	return nil
}
