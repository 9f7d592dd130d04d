package harness

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sinkProducerConfig is how a KafkaSink's receiver produces: acks from all
// in-sync replicas, idempotent, and Kafka's default partitioner for the key
// (eventing-kafka-broker knative-v1.23.0,
// data-plane/receiver/src/main/java/.../receiver/main/Main.java: a Java
// KafkaProducer with no partitioner.class, the partitionkey extension as
// the key).
func sinkProducerConfig() *sarama.Config {
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
// which test/ may not import), whose test checks it against Kafka's Java
// producer on the real broker.
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

// StartKafkaSink starts a stand-in for the KafkaSink "purchases" of
// eventing/kafka-sinks.yaml, writing to topic, and returns its URL. See
// kafkaSinkHandler for what it answers.
func StartKafkaSink(t testing.TB, brokers []string, topic string) string {
	t.Helper()
	return httptestServer(t, kafkaSinkHandler(t, brokers, topic, "purchases"))
}

// httptestServer serves h on loopback until the test ends and returns its URL.
func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// StartKafkaSinkTLS is StartKafkaSink behind https, as Knative Eventing's
// transport encryption serves a sink. It returns the URL and the PEM of the
// CA that signed the server's certificate (what the SinkBinding injects as
// K_CA_CERTS).
func StartKafkaSinkTLS(t testing.TB, brokers []string, topic string) (url, caPEM string) {
	t.Helper()
	srv := httptest.NewTLSServer(kafkaSinkHandler(t, brokers, topic, "purchases"))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.URL, string(ca)
}

// kafkaSinkHandler is a stand-in for the KafkaSink named name in eventing/:
// it takes a CloudEvent over HTTP (binary or structured), writes it to topic
// in the sink's contentMode, keyed by its partitionkey and partitioned as
// the real sink's Java producer does, and answers 202 only after Kafka
// acknowledged it, 503 when producing failed, 400 for what is not a
// CloudEvent, 405 for anything but POST (eventing-kafka-broker
// knative-v1.23.0, data-plane/receiver/.../impl/handler/IngressRequestHandlerImpl.java).
func kafkaSinkHandler(t testing.TB, brokers []string, topic, name string) http.Handler {
	t.Helper()
	structured := shippedContentMode(t, name) == "structured"
	sender, err := kafka_sarama.NewSender(brokers, sinkProducerConfig(), topic)
	if err != nil {
		t.Fatalf("KafkaSink stand-in: %v", err)
	}
	t.Cleanup(func() { _ = sender.Close(context.Background()) })
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
