package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
)

// errNotDelivered means the event was not acknowledged; the client may retry.
var errNotDelivered = errors.New("event not acknowledged")

// sender delivers purchase events. Send returns nil only once the broker (or
// the KafkaSink in front of it) has acknowledged the event.
type sender interface {
	Send(ctx context.Context, e event.Event) error
	Ping(ctx context.Context) error
	Close() error
}

// newSender picks the transport: K_SINK (a Knative SinkBinding) means HTTP
// to the sink, otherwise the SDK's Kafka binding straight to the brokers.
func newSender(ctx context.Context, log *slog.Logger, cfg config) sender {
	if cfg.Sink != "" {
		return newHTTPSender(cfg.Sink)
	}
	return newKafkaSender(ctx, log, cfg.Kafka, cfg.Topic)
}

// httpSender posts binary-mode CloudEvents to a sink. A KafkaSink answers
// 202 only after Kafka acknowledged the record.
type httpSender struct {
	target   string
	client   *http.Client
	protocol *cehttp.Protocol
}

func newHTTPSender(target string) *httpSender {
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	// cehttp.New fails only on an invalid option; these are constant.
	p, _ := cehttp.New(cehttp.WithTarget(target), cehttp.WithClient(*client))
	return &httpSender{target: target, client: client, protocol: p}
}

func (s *httpSender) Send(ctx context.Context, e event.Event) error {
	result := s.protocol.Send(ctx, binding.ToMessage(&e))
	if protocol.IsACK(result) {
		return nil
	}
	var res *cehttp.Result
	if protocol.ResultAs(result, &res) {
		return fmt.Errorf("send event %s: sink answered %d: %w", e.ID(), res.StatusCode, errNotDelivered)
	}
	return fmt.Errorf("send event %s: %w: %w", e.ID(), errNotDelivered, result)
}

// Ping is always fine: the sink is the platform's, reached per request, and
// a failing sink shows in /buy's 503s rather than in taking pods out.
func (s *httpSender) Ping(context.Context) error { return nil }

func (s *httpSender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// countingSender counts what a sender's Sends came to.
type countingSender struct {
	sender
	results *prometheus.CounterVec
}

func (c countingSender) Send(ctx context.Context, e event.Event) error {
	err := c.sender.Send(ctx, e)
	if err != nil {
		c.results.WithLabelValues("failed").Inc()
	} else {
		c.results.WithLabelValues("acked").Inc()
	}
	return err
}
