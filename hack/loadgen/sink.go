package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// sink is the KafkaSink stand-in the end-to-end tests use too
// (stack.KafkaSink), for the KafkaSink "purchases" cm-server posts to
// with K_SINK, in the content mode eventing/kafka-sinks.yaml gives it. It
// runs inside loadgen, so its CPU time is not cm-server's.
type sink struct {
	URL      string
	srv      *http.Server
	producer sarama.SyncProducer
	done     chan struct{}
}

func startSink(ctx context.Context, brokers []string, topic string) (*sink, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	mode, err := stack.ShippedKafkaSinkMode(filepath.Join(root, "eventing"), "purchases")
	if err != nil {
		return nil, err
	}
	producer, err := sarama.NewSyncProducer(brokers, stack.KafkaSinkProducerConfig())
	if err != nil {
		return nil, fmt.Errorf("create the sink's producer: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, producer.Close())
	}
	path := stack.KafkaSinkPath("shop", "purchases")
	done := make(chan struct{})
	h := stack.KafkaSink{Producer: producer, Topic: topic, Path: path, Structured: mode == "structured", Done: done}
	s := &sink{URL: "http://" + ln.Addr().String() + path, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		producer: producer, done: done}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() {
	close(s.done)
	_ = s.srv.Close()
	_ = s.producer.Close()
}
