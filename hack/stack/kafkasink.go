package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

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

// KafkaSinkProducerConfig is how a KafkaSink's receiver produces
// (eventing-kafka-broker knative-v1.23.0,
// data-plane/config/sink/100-config-kafka-sink-data-plane.yaml,
// config-kafka-sink-producer.properties, and
// data-plane/receiver/src/main/java/.../receiver/main/Main.java: a Java
// KafkaProducer with no partitioner.class, the partitionkey extension as
// the key): acks from all in-sync replicas, enable.idempotence=false with
// max.in.flight.requests.per.connection=5, so a retried batch can be written
// twice or after a later one (records of one key reordered within a
// partition), and Kafka's default partitioner for the key. Its retries
// (retries=2147483647 bounded by delivery.timeout.ms) are KafkaSink.serve's
// loop: sarama has no delivery timeout.
func KafkaSinkProducerConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = false
	cfg.Net.MaxOpenRequests = 5
	cfg.Producer.Retry.Backoff = kafkaSinkRetryBackoff
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = func(topic string) sarama.Partitioner {
		return javaPartitioner{kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
	}
	return cfg
}

// The receiver's producer settings that are time (config-kafka-sink-producer.properties).
const (
	// KafkaSinkDeliveryTimeout is delivery.timeout.ms: how long a record is
	// retried before the receiver answers 503; a caller with a shorter
	// timeout gives up first while the record may still be written.
	KafkaSinkDeliveryTimeout = 120 * time.Second
	kafkaSinkRetryBackoff    = 100 * time.Millisecond // retry.backoff.ms
)

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

// KafkaSink is a stand-in for a KafkaSink's receiver (eventing-kafka-broker
// knative-v1.23.0, data-plane/receiver/.../impl/ReceiverVerticle.java and
// impl/handler/IngressRequestHandlerImpl.java): it serves the one path of
// its sink, /<namespace>/<name> (404 for any other, before anything else),
// takes a CloudEvent over HTTP (binary or structured), writes it with
// Producer (made with KafkaSinkProducerConfig) in the sink's content mode,
// keyed by its partitionkey, and answers 202 only after Kafka acknowledged
// it, 503 when producing failed for KafkaSinkDeliveryTimeout, 400 for what
// is not a valid CloudEvent, 405 for anything but POST. The send goes on
// when the caller goes away, as the Java producer's does. For a request
// with a traceparent the record gets a traceparent header of the
// receiver's producer span (core/.../tracing/kafka/ProducerTracer.java),
// sampled as the request's was.
type KafkaSink struct {
	Producer   sarama.SyncProducer
	Topic      string
	Path       string
	Structured bool
	// Done, when closed, ends the sends still being retried with a 503:
	// the receiver shutting down.
	Done <-chan struct{}
}

// KafkaSinkPath is the path the receiver serves a KafkaSink on
// (control-plane/pkg/reconciler/sink/kafka_sink.go: ingress path
// "/<namespace>/<name>").
func KafkaSinkPath(namespace, name string) string { return "/" + namespace + "/" + name }

// ServesPath reports whether path is the sink's: the receiver drops one
// trailing slash before it looks the path up, so "/<namespace>/<name>/" is
// the sink too (eventing-kafka-broker knative-v1.23.0,
// data-plane/receiver/.../impl/IngressProducerReconcilableStore.java,
// resolve and removeTrailingSlash); any other path is 404 (no host-based
// match on loopback).
func (k KafkaSink) ServesPath(path string) bool {
	return strings.TrimSuffix(path, "/") == k.Path
}

func (k KafkaSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !k.ServesPath(r.URL.Path) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
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
	ctx := binding.WithForceBinary(context.WithoutCancel(r.Context()))
	if k.Structured {
		ctx = binding.WithForceStructured(context.WithoutCancel(r.Context()))
	}
	tp := producerTraceparent(r.Header.Get("traceparent"))
	deadline := time.Now().Add(KafkaSinkDeliveryTimeout)
	for {
		// A new message per attempt: sarama counts a message's retries.
		pm := &sarama.ProducerMessage{Topic: k.Topic}
		if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(e), pm); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if tp != "" {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte("traceparent"), Value: []byte(tp)})
		}
		if _, _, err := k.Producer.SendMessage(pm); err == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		if !time.Now().Before(deadline) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select {
		case <-k.Done:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case <-time.After(kafkaSinkRetryBackoff):
		}
	}
}

// producerTraceparent is the traceparent of the receiver's producer span
// for a request with traceparent tp: the same trace, a new span and tp's
// sampled flag when tp is valid, sampled or not (TracingProvider.java's
// sampler is parent-based: an unsampled parent gives an unsampled span that
// is still propagated; measured on the real receiver by
// TestKafkaSinkStandIn_writesTraceparentOfTracedRequest under
// make test-dataplane), else "" (no header is written).
func producerTraceparent(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return ""
	}
	flags, err := hex.DecodeString(parts[3])
	if _, err2 := hex.DecodeString(parts[1]); err != nil || err2 != nil || len(flags) != 1 {
		return ""
	}
	return "00-" + parts[1] + "-" + NewSpanID() + "-" + parts[3]
}

// NewSpanID is a random W3C span id (16 hex digits).
func NewSpanID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
