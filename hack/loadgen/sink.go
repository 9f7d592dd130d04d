package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"sigs.k8s.io/yaml"

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
	mode, err := shippedContentMode(filepath.Join(root, "eventing", "kafka-sinks.yaml"), "purchases")
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

// shippedContentMode reads the contentMode of the KafkaSink name in the
// manifest file path (binary when unset, as the KafkaSink defaults it).
func shippedContentMode(path, name string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the shipped KafkaSinks: %w", err)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		var sink struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				ContentMode string `json:"contentMode"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &sink); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if sink.Kind == "KafkaSink" && sink.Metadata.Name == name {
			if sink.Spec.ContentMode == "" {
				return "binary", nil
			}
			return sink.Spec.ContentMode, nil
		}
	}
	return "", fmt.Errorf("%s: no KafkaSink named %s", path, name)
}
