package harness

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// producerConfig is how Knative's KafkaSink produces: acks from all in-sync
// replicas, idempotent.
func producerConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	return cfg
}

// StartKafkaSink starts a stand-in for Knative's KafkaSink, built from the
// same SDK: it takes a CloudEvent over HTTP (binary or structured), writes it
// to topic as a binary-mode record keyed by its partitionkey, and answers 202
// only after Kafka acknowledged it (503 otherwise, 400 if it is not a
// CloudEvent, 405 if not POST). It returns the sink's URL.
func StartKafkaSink(t testing.TB, brokers []string, topic string) string {
	t.Helper()
	sender, err := kafka_sarama.NewSender(brokers, producerConfig(), topic)
	if err != nil {
		t.Fatalf("KafkaSink stand-in: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		if err := sender.Send(r.Context(), binding.ToMessage(e)); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(func() {
		srv.Close()
		_ = sender.Close(context.Background())
	})
	return srv.URL
}

// KafkaSource is a stand-in for Knative's KafkaSource: a consumer group that
// POSTs each record as a binary-mode CloudEvent to a sink. Like the real one
// it retries on network errors, 5xx, 404, 408, 409 and 429, and sends other
// 4xx answers to its dead letters. It commits a record only once delivered
// or dead-lettered, and retries without limit (the real one stops after
// spec.delivery.retry and dead-letters).
type KafkaSource struct {
	Delivered   atomic.Int64 // 2xx answers
	Retried     atomic.Int64 // deliveries that will be tried again
	mu          sync.Mutex
	deadLetters []int // statuses of dead-lettered deliveries
}

// DeadLetters returns the statuses of the deliveries sent to dead letters.
func (s *KafkaSource) DeadLetters() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.deadLetters...)
}

// StartKafkaSource starts consuming topic as group and delivering to sink.
func StartKafkaSource(t testing.TB, brokers []string, topic, group, sink string) *KafkaSource {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cg, err := sarama.NewConsumerGroup(brokers, group, cfg)
	if err != nil {
		t.Fatalf("KafkaSource stand-in: %v", err)
	}
	src := &KafkaSource{}
	h := &sourceHandler{src: src, sink: sink, client: &http.Client{Timeout: 10 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cg.Close()
	})
	return src
}

type sourceHandler struct {
	src    *KafkaSource
	sink   string
	client *http.Client
}

func (h *sourceHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *sourceHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *sourceHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
			status := h.deliver(sess.Context(), msg)
			if status/100 == 2 {
				h.src.Delivered.Add(1)
				break
			}
			if !retriable(status) {
				h.src.mu.Lock()
				h.src.deadLetters = append(h.src.deadLetters, status)
				h.src.mu.Unlock()
				break
			}
			h.src.Retried.Add(1)
			select {
			case <-sess.Context().Done():
				return nil
			case <-time.After(backoff):
			}
		}
		sess.MarkMessage(msg, "")
	}
	return nil
}

// deliver POSTs one record; 0 means no answer (network error).
func (h *sourceHandler) deliver(ctx context.Context, msg *sarama.ConsumerMessage) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.sink, nil)
	if err != nil {
		return 0
	}
	if err := cehttp.WriteRequest(ctx, kafka_sarama.NewMessageFromConsumerMessage(msg), req); err != nil {
		return http.StatusBadRequest // not a CloudEvent: the real source would wrap it; we dead-letter it
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// retriable is KafkaSource's list of answers worth another try.
func retriable(status int) bool {
	switch status {
	case 0, http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}
