package stack

import (
	"cmp"
	"fmt"
	"net/http"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/twmb/franz-go/pkg/kgo"
	"sigs.k8s.io/yaml"
)

// The KafkaSink stand-in, one for the end-to-end tests (test/harness, which
// takes the content mode from eventing/) and the load generator
// (hack/loadgen's HTTP-sink phase).

// KafkaSinkProducerConfig is how a KafkaSink's receiver produces: acks from
// all in-sync replicas, idempotent, and Kafka's default partitioner for the
// key (eventing-kafka-broker knative-v1.23.0,
// data-plane/receiver/src/main/java/.../receiver/main/Main.java: a Java
// KafkaProducer with no partitioner.class, the partitionkey extension as
// the key).
func KafkaSinkProducerConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = func(topic string) sarama.Partitioner {
		return javaPartitioner{kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
	}
	return cfg
}

// javaPartitioner is the Java producer's default partitioner as franz-go
// implements it: murmur2 of the key, sticky for records without one. It is
// the library cm-server's own partitioner uses (functions/internal/broker,
// which hack/ and test/ may not import), whose test checks it against
// Kafka's Java producer on the real broker.
type javaPartitioner struct{ kgo.TopicPartitioner }

func (p javaPartitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	var key []byte
	if m.Key != nil {
		var err error
		if key, err = m.Key.Encode(); err != nil {
			return -1, err
		}
	}
	return int32(p.TopicPartitioner.Partition(&kgo.Record{Key: key}, int(n))), nil
}

func (p javaPartitioner) RequiresConsistency() bool { return true }

// KafkaSinkHandler is a stand-in for a KafkaSink's receiver: it takes a
// CloudEvent over HTTP (binary or structured), writes it with sender (made
// with KafkaSinkProducerConfig) in the sink's content mode, keyed by its
// partitionkey, and answers 202 only after Kafka acknowledged it, 503 when
// producing failed, 400 for what is not a valid CloudEvent, 405 for anything
// but POST (eventing-kafka-broker knative-v1.23.0,
// data-plane/receiver/.../impl/handler/IngressRequestHandlerImpl.java).
func KafkaSinkHandler(sender *kafka_sarama.Sender, structured bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		msg := cehttp.NewMessageFromHttpRequest(r)
		if msg.ReadEncoding() == binding.EncodingUnknown {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		e, err := binding.ToEvent(r.Context(), msg)
		if err != nil || e.Validate() != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		if structured {
			ctx = binding.WithForceStructured(ctx)
		} else {
			ctx = binding.WithForceBinary(ctx)
		}
		if err := sender.Send(ctx, binding.ToMessage(e)); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// ShippedKafkaSinkMode is the contentMode of the one KafkaSink named name
// in the manifests of eventingDir (eventing/*.yaml): "binary" when unset,
// as upstream defaults it. No KafkaSink of that name, or more than one, is
// an error: the stand-in must follow what is shipped.
func ShippedKafkaSinkMode(eventingDir, name string) (string, error) {
	docs, err := ShippedDocuments(eventingDir, "KafkaSink", name)
	if err != nil {
		return "", err
	}
	if len(docs) != 1 {
		return "", fmt.Errorf("%s: %d KafkaSinks named %s, want 1", eventingDir, len(docs), name)
	}
	var sink struct {
		Spec struct {
			ContentMode string `json:"contentMode"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(docs[0], &sink); err != nil {
		return "", fmt.Errorf("KafkaSink %s: %w", name, err)
	}
	return cmp.Or(sink.Spec.ContentMode, "binary"), nil
}
