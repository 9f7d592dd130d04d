package harness

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// StartKafkaSink starts a stand-in for the KafkaSink "purchases" of
// eventing/kafka-sinks.yaml, writing to topic, and returns its URL. See
// kafkaSinkHandler for what it answers.
func StartKafkaSink(t testing.TB, brokers []string, topic string) string {
	t.Helper()
	if DataPlane() {
		return startReceiver(t, brokers, topic, "purchases")
	}
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

// kafkaSinkHandler is the KafkaSink stand-in (stack.KafkaSinkHandler) for
// the KafkaSink named name in eventing/, in its contentMode, writing to
// topic.
func kafkaSinkHandler(t testing.TB, brokers []string, topic, name string) http.Handler {
	t.Helper()
	mode, err := stack.ShippedKafkaSinkMode(filepath.Join(repoRoot(), "eventing"), name)
	if err != nil {
		t.Fatalf("KafkaSink stand-in: %v", err)
	}
	sender, err := kafka_sarama.NewSender(brokers, stack.KafkaSinkProducerConfig(), topic)
	if err != nil {
		t.Fatalf("KafkaSink stand-in: %v", err)
	}
	t.Cleanup(func() { _ = sender.Close(context.Background()) })
	return stack.KafkaSinkHandler(sender, mode == "structured")
}
