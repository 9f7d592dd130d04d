package manifest

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// The eventing-kafka-broker webhook validates more than its CRD schema does
// (initialOffset and ordering are plain strings there). Its Go module is not
// importable here, so these mirror its Validate methods at knative-v1.23
// (control-plane/pkg/apis/sources/v1/kafka_validation.go and
// eventing/v1alpha1/kafka_sink_validation.go), built on the duck types they
// embed, whose own Validate runs unchanged.

// kafkaSourceSpec is the part of KafkaSource.spec the webhook validates.
type kafkaSourceSpec struct {
	duckv1.SourceSpec `json:",inline"`
	BootstrapServers  []string                     `json:"bootstrapServers"`
	Topics            []string                     `json:"topics"`
	InitialOffset     string                       `json:"initialOffset"`
	Ordering          *string                      `json:"ordering"`
	Consumers         *int32                       `json:"consumers"`
	Delivery          *eventingduckv1.DeliverySpec `json:"delivery"`
}

// validateKafkaSourceWebhook mirrors KafkaSource SetDefaults + Validate.
func validateKafkaSourceWebhook(m manifest) error {
	var spec kafkaSourceSpec
	if err := unmarshalSpec(m, &spec); err != nil {
		return err
	}
	ctx := apis.WithinParent(webhookContext(), metav1.ObjectMeta{Name: m.name(), Namespace: testNamespace})
	if spec.InitialOffset == "" {
		spec.InitialOffset = "latest"
	}
	spec.Sink.SetDefaults(ctx)
	errs := spec.SourceSpec.Validate(ctx)
	if len(spec.Topics) == 0 {
		errs = errs.Also(apis.ErrMissingField("topics"))
	}
	if len(spec.BootstrapServers) == 0 {
		errs = errs.Also(apis.ErrMissingField("bootstrapServers"))
	}
	if spec.InitialOffset != "earliest" && spec.InitialOffset != "latest" {
		errs = errs.Also(apis.ErrInvalidValue(spec.InitialOffset, "initialOffset"))
	}
	if spec.Ordering != nil && *spec.Ordering != "ordered" && *spec.Ordering != "unordered" {
		errs = errs.Also(apis.ErrInvalidValue(*spec.Ordering, "ordering"))
	}
	if spec.Consumers != nil && *spec.Consumers < 1 {
		errs = errs.Also(apis.ErrInvalidValue(*spec.Consumers, "consumers"))
	}
	if spec.Delivery != nil {
		errs = errs.Also(spec.Delivery.Validate(ctx).ViaField("delivery"))
	}
	return knativeErrors(m, errs.ViaField("spec"))
}

// kafkaSinkSpec is the part of KafkaSink.spec the webhook validates.
type kafkaSinkSpec struct {
	Topic             string   `json:"topic"`
	BootstrapServers  []string `json:"bootstrapServers"`
	ContentMode       *string  `json:"contentMode"`
	NumPartitions     *int32   `json:"numPartitions"`
	ReplicationFactor *int16   `json:"replicationFactor"`
}

// validateKafkaSinkWebhook mirrors KafkaSink SetDefaults + Validate.
func validateKafkaSinkWebhook(m manifest) error {
	var spec kafkaSinkSpec
	if err := unmarshalSpec(m, &spec); err != nil {
		return err
	}
	var errs *apis.FieldError
	if spec.ContentMode != nil && *spec.ContentMode != "binary" && *spec.ContentMode != "structured" {
		errs = errs.Also(apis.ErrInvalidValue(*spec.ContentMode, "contentMode"))
	}
	if len(spec.BootstrapServers) == 0 {
		errs = errs.Also(apis.ErrInvalidValue(spec.BootstrapServers, "bootstrapServers"))
	}
	if spec.Topic == "" {
		errs = errs.Also(apis.ErrInvalidValue(spec.Topic, "topic"))
	}
	if spec.ReplicationFactor != nil && *spec.ReplicationFactor <= 0 {
		errs = errs.Also(apis.ErrInvalidValue(*spec.ReplicationFactor, "replicationFactor"))
	}
	if spec.NumPartitions != nil && *spec.NumPartitions <= 0 {
		errs = errs.Also(apis.ErrInvalidValue(*spec.NumPartitions, "numPartitions"))
	}
	return knativeErrors(m, errs.ViaField("spec"))
}

// unmarshalSpec decodes m's spec leniently: the CRD check already rejected
// unknown fields.
func unmarshalSpec(m manifest, into any) error {
	data, err := json.Marshal(m.obj["spec"])
	if err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s spec: %w", m, err)
	}
	return nil
}
