package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// sink is a stand-in for the KafkaSink cm-server posts to with K_SINK: it
// writes each binary-mode CloudEvent to its topic (acks from all in-sync
// replicas, idempotent) and answers 202 only after the broker's ack, as
// the KafkaSink's receiver does. It runs inside loadgen, so its CPU time is
// not cm-server's.
type sink struct {
	URL  string
	srv  *http.Server
	prod sarama.SyncProducer
}

func startSink(brokers []string, topic string) (*sink, error) {
	prod, err := sarama.NewSyncProducer(brokers, producerConfig())
	if err != nil {
		return nil, fmt.Errorf("create the sink's producer: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, prod.Close())
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pm := &sarama.ProducerMessage{Topic: topic}
		if err := kafka_sarama.WriteProducerMessage(r.Context(), cehttp.NewMessageFromHttpRequest(r), pm); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, _, err := prod.SendMessage(pm); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	s := &sink{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, prod: prod}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() {
	_ = s.srv.Close()
	_ = s.prod.Close()
}
