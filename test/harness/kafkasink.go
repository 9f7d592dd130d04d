package harness

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// StartKafkaSink starts a stand-in for the KafkaSink "purchases" of
// eventing/kafka-sinks.yaml, writing to topic, and returns its URL: the
// receiver's address with the sink's path, /shop/purchases (any other path
// is 404). See stack.KafkaSink for what it answers.
func StartKafkaSink(t testing.TB, brokers []string, topic string) string {
	t.Helper()
	if DataPlane() {
		return startReceiver(t, brokers, topic, "purchases")
	}
	return httptestServer(t, kafkaSinkHandler(t, brokers, topic, "purchases")) + sinkPath("purchases")
}

// sinkNamespace is the namespace the harness's KafkaSinks live in.
const sinkNamespace = "shop"

func sinkPath(name string) string { return stack.KafkaSinkPath(sinkNamespace, name) }

// httptestServer serves h on loopback until the test ends and returns its
// URL. A handler that is a stopper is stopped first, so that no request it
// is still working on holds the server's Close.
func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if s, ok := h.(stopper); ok {
		t.Cleanup(s.stop)
	}
	return srv.URL
}

// stopper is a handler with work that must end before its server closes.
type stopper interface{ stop() }

// StartKafkaSinkTLS is StartKafkaSink behind https, as Knative Eventing's
// transport encryption serves a sink. It returns the URL and the PEM of the
// CA that signed the server's certificate (what the SinkBinding injects as
// K_CA_CERTS).
func StartKafkaSinkTLS(t testing.TB, brokers []string, topic string) (url, caPEM string) {
	t.Helper()
	h := kafkaSinkHandler(t, brokers, topic, "purchases")
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.stop)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.URL + sinkPath("purchases"), string(ca)
}

// sinkStandIn is a KafkaSink stand-in that stop ends; with auth set it
// checks senders as the receiver does with authentication-oidc on, after
// the path and before anything else (ReceiverVerticle.handle).
type sinkStandIn struct {
	stack.KafkaSink
	auth *SinkAuth
	done chan struct{}
	once sync.Once
}

func (s *sinkStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.auth != nil && s.ServesPath(r.URL.Path) {
		if status := s.auth.check(r); status != 0 {
			w.WriteHeader(status)
			return
		}
	}
	s.KafkaSink.ServeHTTP(w, r)
}

func (s *sinkStandIn) stop() { s.once.Do(func() { close(s.done) }) }

// kafkaSinkHandler is the KafkaSink stand-in (stack.KafkaSink) for the
// KafkaSink named name in eventing/, in its contentMode, writing to topic.
func kafkaSinkHandler(t testing.TB, brokers []string, topic, name string) *sinkStandIn {
	t.Helper()
	mode, err := stack.ShippedKafkaSinkMode(filepath.Join(repoRoot(), "eventing"), name)
	if err != nil {
		t.Fatalf("KafkaSink stand-in: %v", err)
	}
	producer, err := sarama.NewSyncProducer(brokers, stack.KafkaSinkProducerConfig())
	if err != nil {
		t.Fatalf("KafkaSink stand-in: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	done := make(chan struct{})
	return &sinkStandIn{KafkaSink: stack.KafkaSink{Producer: producer, Topic: topic, Path: sinkPath(name),
		Structured: mode == "structured", Done: done}, done: done}
}
