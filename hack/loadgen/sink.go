package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// sink is the KafkaSink stand-in the end-to-end tests use too
// (stack.KafkaSinkHandler), for the KafkaSink "purchases" cm-server posts to
// with K_SINK, in the content mode eventing/kafka-sinks.yaml gives it. It
// runs inside loadgen, so its CPU time is not cm-server's.
type sink struct {
	URL    string
	srv    *http.Server
	sender *kafka_sarama.Sender
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
	sender, err := kafka_sarama.NewSender(brokers, stack.KafkaSinkProducerConfig(), topic)
	if err != nil {
		return nil, fmt.Errorf("create the sink's producer: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, sender.Close(ctx))
	}
	h := stack.KafkaSinkHandler(sender, mode == "structured")
	s := &sink{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, sender: sender}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() {
	_ = s.srv.Close()
	_ = s.sender.Close(context.Background())
}
