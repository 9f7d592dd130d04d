package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
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

// newSender picks the transport and logs which: HTTP to the sink in K_SINK
// (set by a SinkBinding), otherwise Kafka directly. On Knative without
// K_SINK that is a warning: purchases then bypass the KafkaSink.
func newSender(ctx context.Context, log *slog.Logger, cfg config) (sender, error) {
	if cfg.Sink != "" {
		log.Info("event transport: HTTP to the sink in K_SINK", "transport", cfg.transport(),
			"sink", env.RedactURL(cfg.Sink), "sink_ca_certs", cfg.SinkCACerts != "")
		return newHTTPSender(cfg.Sink, cfg.SinkCACerts, sinkTokenFile)
	}
	if cfg.Revision != "" {
		log.Warn("event transport: Kafka directly, although this runs on Knative: K_SINK is not set, "+
			"so the SinkBinding has not injected the KafkaSink's address (is the KafkaSink Ready?)",
			"transport", cfg.transport(), "brokers", cfg.Kafka.Brokers, "topic", cfg.Topic)
	} else {
		log.Info("event transport: Kafka directly", "transport", cfg.transport(),
			"brokers", cfg.Kafka.Brokers, "topic", cfg.Topic)
	}
	return newKafkaSender(ctx, log, cfg.Kafka, cfg.Topic), nil
}

// httpSender posts binary-mode CloudEvents to a sink. A KafkaSink answers
// 202 only after Kafka acknowledged the record.
type httpSender struct {
	target    string
	transport *http.Transport
	protocol  *cehttp.Protocol
}

// sinkConns is how many idle connections to the sink are kept: every send
// goes to that one host, and Go's default of 2 would make nearly every
// concurrent send dial.
const sinkConns = 512

// sinkTokenFile is where a SinkBinding mounts a token for its sink when
// Knative Eventing's authentication-oidc feature is on (knative.dev/eventing
// pkg/apis/sources/v1/sinkbinding_lifecycle.go, pkg/reconciler/sinkbinding).
const sinkTokenFile = "/oidc/token"

// newHTTPSender sends to target, trusting caCerts (K_CA_CERTS, the sink's
// CA) besides the system roots; each event carries the token in tokenFile,
// when it exists, as the sender's identity.
func newHTTPSender(target, caCerts, tokenFile string) (*httpSender, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns, transport.MaxIdleConnsPerHost = sinkConns, sinkConns
	if caCerts != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caCerts)) {
			return nil, errors.New("K_CA_CERTS: no PEM certificate found")
		}
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	// A client span per send carries the trace to the sink in traceparent.
	client := http.Client{Transport: telemetry.Transport(&fileToken{base: transport, file: tokenFile, now: time.Now})}
	p, err := cehttp.New(cehttp.WithTarget(target), cehttp.WithClient(client))
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", env.RedactURL(target), err)
	}
	return &httpSender{target: target, transport: transport, protocol: p}, nil
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

// fileToken adds "Authorization: Bearer" with the token in file, which its
// issuer renews. The file is read again at most every tokenReread: a
// second's delay is nothing next to a token's lifetime (ten minutes at least).
type fileToken struct {
	base http.RoundTripper
	file string
	now  func() time.Time

	mu     sync.Mutex
	bearer string    // "Bearer <token>", or "" while there is none
	readAt time.Time // zero before the first read
}

// tokenReread is how long a token read from the file is used.
const tokenReread = time.Second

func (s *fileToken) RoundTrip(req *http.Request) (*http.Response, error) {
	if bearer := s.header(); bearer != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", bearer)
	}
	return s.base.RoundTrip(req)
}

// header is the Authorization value, read again once tokenReread passed.
func (s *fileToken) header() string {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readAt.IsZero() || now.Sub(s.readAt) >= tokenReread {
		s.bearer = ""
		if b, err := os.ReadFile(s.file); err == nil && len(bytes.TrimSpace(b)) > 0 {
			s.bearer = "Bearer " + string(bytes.TrimSpace(b))
		}
		s.readAt = now
	}
	return s.bearer
}

// Ping is always fine: a failing sink shows in /buy's 503s, not in taking
// pods out of service.
func (s *httpSender) Ping(context.Context) error { return nil }

func (s *httpSender) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// observedSender makes each Send a producer span, sends that span's
// context as the event's traceparent extension (so cm-api's consumer span
// continues the purchase's trace), and counts the result.
type observedSender struct {
	sender
	topic         string
	via           string // the span's shop.transport
	acked, failed prometheus.Counter
}

// newObservedSender observes s, whose transport is "kafka" or "http" (to
// the KafkaSink in K_SINK), counting its Sends in results, by result.
func newObservedSender(s sender, topic, transport string, results *prometheus.CounterVec) observedSender {
	via := "kafka"
	if transport == "http" {
		via = "knative-kafkasink"
	}
	return observedSender{s, topic, via, results.WithLabelValues("acked"), results.WithLabelValues("failed")}
}

func (o observedSender) Send(ctx context.Context, e event.Event) error {
	ctx, span := telemetry.StartSend(ctx, telemetry.Message{Topic: o.topic, ID: e.ID(), Partition: -1, Offset: -1, Via: o.via})
	if tp := telemetry.TraceParent(ctx); tp != "" {
		e.SetExtension(telemetry.TraceParentExtension, tp)
	}
	err := o.sender.Send(ctx, e)
	telemetry.End(span, err)
	if err != nil {
		o.failed.Inc()
	} else {
		o.acked.Inc()
	}
	return err
}
