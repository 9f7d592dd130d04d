package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// The KafkaSource stand-in behaves as eventing-kafka-broker's dispatcher at
// knative-v1.23.0 does; every rule below names the file it comes from, all
// under data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/.
//   - impl/http/WebClientCloudEventSender.java: a POST of a binary-mode
//     CloudEvent with "Prefer: reply" and "Kn-Namespace"; each attempt bound
//     by spec.delivery.timeout; any status >= 300 is a failure; a failure is
//     retried while the retries are not used up when it is a network error or
//     timeout, or a status >= 500, 404, 408, 409 or 429; every other status
//     is not retried; Retry-After is ignored; the wait before retry n is
//     Delivery.Backoff(n).
//   - impl/RecordDispatcherImpl.java: a failed event goes to the dead-letter
//     sink with the extensions knativeerrordest (the subscriber),
//     knativeerrorcode (the last status) and knativeerrordata (the first
//     1,024 bytes of the last answer, base64), and kne-* answer headers as
//     extensions; the dead-letter sink is tried with the same retries; when
//     it fails too, or there is none, the offset is committed anyway: the
//     event is lost.
//   - impl/consumer/OrderedConsumerVerticle.java: ordered delivery, one event
//     in flight per partition, the next only after the last is done;
//     impl/consumer/UnorderedConsumerVerticle.java: unordered delivery, up to
//     2*max.poll.records-1 events in flight per consumer, in any order
//     (kafkasource_unordered.go).
//   - impl/consumer/InvalidCloudEventInterceptor.java: a record that is not
//     a CloudEvent is wrapped in one of type dev.knative.kafka.event.
//   - impl/consumer/CloudEventOverridesMutator.java: every event delivered,
//     to the subscriber or the dead-letter sink, wrapped or not, carries the
//     extensions knativekafkapartition and knativekafkaoffset of its record
//     (and none of the kafkatopic/kafkapartition/kafkaoffset extensions the
//     CloudEvents SDK's Kafka binding would add).
//   - core/.../observability/tracing/kafka/ConsumerTracer.java and
//     TracingProvider.java (data-plane/core): the dispatcher's span continues
//     the trace of the record's traceparent header (W3C propagator) and its
//     HTTP client sends a traceparent header of its own span, next to the
//     event's ce-traceparent; a record without one starts a new trace, not
//     sampled (sampling rate 0 by default).
//   - impl/consumer/OffsetManager.java with ConsumerVerticleBuilder.java
//     (auto.commit.interval.ms, 5000 when unset, 5000 in
//     data-plane/config/source/100-config-kafka-source-data-plane.yaml):
//     offsets are committed every 5 s and when the partitions are revoked,
//     so after a crash up to 5 s of delivered events come again.
//   - impl/http/WebClientCloudEventSender.java with authentication-oidc on:
//     each POST carries "Authorization: Bearer" with a token of the source's
//     OIDC service account for the sink's audience (SourceConfig.Token), and
//     to the dead-letter sink one for the dead-letter sink's own audience
//     (main/ConsumerVerticleBuilder.java, SourceConfig.DeadLetterToken). A
//     401 or 403 from the dead-letter sink is not retried: the event is lost.

// KafkaSource is a running stand-in. Its counters are what the real
// dispatcher's metrics would show.
type KafkaSource struct {
	Delivered atomic.Int64 // events the subscriber acknowledged (2xx)
	Retried   atomic.Int64 // attempts that failed and were tried again
	Lost      atomic.Int64 // failed events that no dead-letter sink took: committed anyway
	Sessions  atomic.Int64 // consumer group sessions begun: the first, then one per rebalance

	mu          sync.Mutex
	deadLetters []DeadLetter
	stop        func(crash bool)
}

// DeadLetter is an event the stand-in sent to its dead-letter sink.
type DeadLetter struct {
	ID     string // the event's id
	Status int    // the subscriber's last status; 0 for no answer
}

// DeadLetters returns the events sent to the dead-letter sink so far.
func (s *KafkaSource) DeadLetters() []DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DeadLetter(nil), s.deadLetters...)
}

// SourceConfig says what a KafkaSource stand-in consumes and where it
// delivers; Delivery is normally ShippedDelivery, possibly Scaled.
type SourceConfig struct {
	Brokers        []string
	Topic, Group   string
	Sink           string // the subscriber's URL
	DeadLetterSink string // the dead-letter sink's URL; required when Delivery has one
	Namespace      string // for Kn-Namespace and wrapped events' source; "shop" if empty
	Delivery       Delivery
	// Token, when set, is the sender identity: a token for the sink's
	// audience, asked for at each delivery as the data plane does.
	Token func() string
	// DeadLetterToken, when set, is the sender identity towards the
	// dead-letter sink: a token for ITS audience, not the sink's
	// (ConsumerVerticleBuilder.createDeadLetterSinkRecordSender).
	DeadLetterToken func() string
	// Consumer is how the dispatcher consumes; the zero value is
	// ShippedConsumer, the data plane's own settings.
	Consumer Consumer
}

// Consumer is how the dispatcher's Kafka consumer runs (eventing-kafka-broker
// knative-v1.23.0, data-plane/config/source/100-config-kafka-source-data-plane.yaml
// and the dispatcher files named above).
type Consumer struct {
	CommitInterval time.Duration // auto.commit.interval.ms: OffsetManager's commit timer
	PollInterval   time.Duration // OrderedConsumerVerticle.POLLING_MS: at most one poll per interval (ordered only)
	MaxPollRecords int           // max.poll.records: the most one poll returns
}

// ShippedConsumer is the data plane's consumer as shipped: offsets
// committed every 5 s, a poll returning at most 50 records, for an ordered
// consumer at most every 200 ms, so it delivers at most about 250 events/s;
// an unordered one polls again as soon as fewer than 50 are in flight.
func ShippedConsumer() Consumer {
	return Consumer{CommitInterval: 5 * time.Second, PollInterval: 200 * time.Millisecond, MaxPollRecords: 50}
}

// Scaled is c with its intervals multiplied by f, as Delivery.Scaled does:
// a test that runs the delivery schedule f times faster may do the same
// with the consumer's timers and must scale what it expects by f too.
func (c Consumer) Scaled(f float64) Consumer {
	c.CommitInterval = time.Duration(float64(c.CommitInterval) * f)
	c.PollInterval = time.Duration(float64(c.PollInterval) * f)
	return c
}

// StartKafkaSource starts consuming cfg.Topic as cfg.Group and delivering
// to cfg.Sink until the test ends.
func StartKafkaSource(t testing.TB, cfg SourceConfig) *KafkaSource {
	t.Helper()
	if DataPlane() {
		return startDataPlaneSource(t, cfg)
	}
	if cfg.Delivery.DeadLetterSink != (cfg.DeadLetterSink != "") {
		t.Fatalf("KafkaSource stand-in: the manifest's deadLetterSink (%v) and the test's dead-letter URL %q disagree",
			cfg.Delivery.DeadLetterSink, cfg.DeadLetterSink)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "shop"
	}
	if cfg.Consumer == (Consumer{}) {
		cfg.Consumer = ShippedConsumer()
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	// The stand-in commits what it marked itself, on OffsetManager's timer
	// and when a session ends (sourceHandler.Setup and Cleanup), so that a
	// crash can skip the last commit.
	sc.Consumer.Offsets.AutoCommit.Enable = false
	// partition.assignment.strategy=StickyAssignor and
	// allow.auto.create.topics=true (config-kafka-source-data-plane): the
	// consumer's subscription creates a missing topic on a broker that
	// allows it, with the broker's defaults.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	sc.Metadata.AllowAutoTopicCreation = true
	// A member's rebalance timeout is its max.poll.interval.ms: how long the
	// group waits for a member that does not poll (an unordered consumer
	// with max.poll.records in flight) before it rebalances without it.
	sc.Consumer.Group.Rebalance.Timeout = maxPollInterval(cfg.Delivery, cfg.Consumer.MaxPollRecords)
	sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	if cfg.Delivery.InitialOffset == "earliest" {
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	cg, err := sarama.NewConsumerGroup(cfg.Brokers, cfg.Group, sc)
	if err != nil {
		t.Fatalf("KafkaSource stand-in: %v", err)
	}
	life, stop := context.WithCancel(context.Background())
	src := &KafkaSource{}
	h := &sourceHandler{src: src, cfg: cfg, life: life, poll: newPoller(cfg.Consumer), client: &http.Client{
		Timeout: cfg.Delivery.Timeout,
		// A redirect is an answer >= 300: a failure, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     webClientTransport(),
	}}
	if !cfg.Delivery.Ordered {
		h.unordered = newInFlightRecords(cfg.Consumer.MaxPollRecords)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for life.Err() == nil {
			if err := cg.Consume(life, []string{cfg.Topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	var once sync.Once
	src.stop = func(crash bool) {
		once.Do(func() {
			h.crashed.Store(crash)
			stop()
			<-done
			h.inFlight.Wait()
			_ = cg.Close()
		})
	}
	t.Cleanup(func() { src.stop(false) })
	return src
}

// maxPollInterval is the max.poll.interval.ms the dispatcher sets from the
// delivery (main/ConsumerVerticleContext.java, maxProcessingTimeMs): the
// longest one record can take, every attempt and wait and 1 s per retry,
// times max.poll.records, times 2 for the dead-letter sink, at most
// Integer.MAX_VALUE ms. With the shipped delivery, about 6.6 days.
func maxPollInterval(d Delivery, maxPollRecords int) time.Duration {
	record := d.Timeout
	for n := 1; n <= d.Retry; n++ {
		record += d.Timeout + d.Backoff(n) + time.Second
	}
	total := 2 * float64(maxPollRecords) * float64(record)
	return time.Duration(min(total, float64(math.MaxInt32)*float64(time.Millisecond)))
}

// webClientTransport keeps as many idle connections per host as the data
// plane's web client pools (maxPoolSize=100,
// config-kafka-source-webclient.properties): more than an unordered consumer
// has in flight, so its deliveries do not open a connection each.
func webClientTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 100
	return tr
}

// Crash stops the stand-in as a SIGKILL stops the dispatcher: deliveries
// in flight are cut off and what was delivered since the last commit is not
// committed, so the partitions' next owner delivers it again. (The group is
// left at once rather than after session.timeout.ms, which only makes the
// test faster.)
//
// On the real data plane it sends SIGKILL to the source's dispatchers: the
// group keeps their members until session.timeout.ms (10 s as shipped) ends,
// and what they delivered since their last commit (every 5 s) comes again.
func (s *KafkaSource) Crash() {
	if s.stop != nil { // nil: not started by StartKafkaSource, nothing runs
		s.stop(true)
	}
}

// StartKafkaSource starts the shop's cluster path behind cm-api as
// eventing/ ships it, with its schedule scaled by scale: a stand-in for the
// dead-letter KafkaSink purchases-dlq writing to the shop's DLQ topic, and
// the KafkaSource delivering the shop's topic to cm-api's POST /.
func (s *Shop) StartKafkaSource(scale float64) *KafkaSource {
	s.t.Helper()
	return s.startKafkaSource(ShippedDelivery(s.t).Scaled(scale), scale)
}

// StartKafkaSourceOrdered is StartKafkaSource with spec.ordering ordered,
// the option docs/deploy.md offers (kafkaSource.ordering=ordered in the
// chart) in place of the shipped unordered delivery.
func (s *Shop) StartKafkaSourceOrdered(scale float64) *KafkaSource {
	s.t.Helper()
	d := ShippedDelivery(s.t).Scaled(scale)
	d.Ordered = true
	return s.startKafkaSource(d, scale)
}

// startKafkaSource starts the dead-letter sink and the KafkaSource with
// delivery d, on the real data plane when the test runs against it.
func (s *Shop) startKafkaSource(d Delivery, scale float64) *KafkaSource {
	s.t.Helper()
	if DataPlane() {
		return s.startDataPlaneSource(d)
	}
	dls := s.startDeadLetterSink()
	return StartKafkaSource(s.t, SourceConfig{Brokers: s.Brokers, Topic: s.Topic, Group: s.Group,
		Sink: s.APIURL, DeadLetterSink: dls, Delivery: d, Token: s.SourceToken, DeadLetterToken: s.DeadLetterToken,
		Consumer: ShippedConsumer().Scaled(scale)})
}

// startDeadLetterSink starts the stand-in for the KafkaSink purchases-dlq,
// writing to the shop's DLQ topic, and returns its URL.
func (s *Shop) startDeadLetterSink() string {
	h := kafkaSinkHandler(s.t, s.Brokers, s.DLQTopic, "purchases-dlq")
	h.auth = s.DeadLetterAuth
	return httptestServer(s.t, h) + sinkPath("purchases-dlq")
}

// StartKafkaSourceBudget is StartKafkaSource with an explicit, small retry
// budget: retry retries waiting delay, 2*delay, ... (the shipped policy).
// It is a test-only override, for a test that must see the budget run out
// (a beyond-budget outage) without waiting out the shipped budget of hours.
// It is never kinder than the shipped settings: the retries and the delay
// may only be fewer and shorter, and everything each attempt does (the
// per-attempt timeout scaled by scale, the statuses retried, the
// dead-letter sink, the ordering) stays as shipped.
func (s *Shop) StartKafkaSourceBudget(scale float64, retry int, delay time.Duration) *KafkaSource {
	s.t.Helper()
	d := ShippedDelivery(s.t).Scaled(scale)
	if retry > d.Retry || delay > d.Delay {
		s.t.Fatalf("KafkaSource stand-in: test budget retry %d, delay %v is kinder than the shipped (scaled) retry %d, delay %v",
			retry, delay, d.Retry, d.Delay)
	}
	d.Retry, d.Delay = retry, delay
	if DataPlane() {
		return s.startDataPlaneSource(d)
	}
	dls := s.startDeadLetterSink()
	return StartKafkaSource(s.t, SourceConfig{Brokers: s.Brokers, Topic: s.Topic, Group: s.Group,
		Sink: s.APIURL, DeadLetterSink: dls, Delivery: d, Token: s.SourceToken, DeadLetterToken: s.DeadLetterToken,
		Consumer: ShippedConsumer().Scaled(scale)})
}

// attempt is one POST's outcome.
type attempt struct {
	status int // 0: no answer (network error or timeout)
	header http.Header
	body   []byte
}

func (a attempt) retryable() bool {
	switch s := a.status; {
	case s == 0, s >= 500, s == http.StatusNotFound, s == http.StatusRequestTimeout,
		s == http.StatusConflict, s == http.StatusTooManyRequests:
		return true
	}
	return false
}

// send delivers e to target with the retries of the delivery spec and
// reports the last attempt and whether it succeeded.
func (h *sourceHandler) send(ctx context.Context, target string, e event.Event) (attempt, bool) {
	d := h.cfg.Delivery
	for n := 0; ; n++ {
		a := h.post(ctx, target, e)
		if a.status >= 200 && a.status < 300 {
			return a, true
		}
		if !a.retryable() || n >= d.Retry || ctx.Err() != nil {
			return a, false
		}
		h.src.Retried.Add(1)
		select {
		case <-ctx.Done():
			return a, false
		case <-time.After(d.Backoff(n + 1)):
		}
	}
}

func (h *sourceHandler) post(ctx context.Context, target string, e event.Event) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return attempt{}
	}
	req.Header.Set("Prefer", "reply")
	req.Header.Set("Kn-Namespace", h.cfg.Namespace)
	token := h.cfg.Token
	if target == h.cfg.DeadLetterSink {
		token = h.cfg.DeadLetterToken
	}
	if token != nil {
		req.Header.Set("Authorization", "Bearer "+token())
	}
	if tp := requestTraceparent(ctx); tp != "" {
		req.Header.Set("traceparent", tp)
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(&e), req); err != nil {
		return attempt{}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return attempt{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return attempt{status: resp.StatusCode, header: resp.Header, body: body}
}

// deadLetter sends the failed event to the dead-letter sink with the error
// extensions. When the sink does not take it, or there is none, the event is
// lost: the offset is committed all the same.
func (h *sourceHandler) deadLetter(ctx context.Context, e event.Event, last attempt) {
	if h.cfg.DeadLetterSink == "" {
		h.src.Lost.Add(1)
		return
	}
	e = e.Clone()
	e.SetExtension("knativeerrordest", h.cfg.Sink)
	if last.status != 0 {
		e.SetExtension("knativeerrorcode", fmt.Sprint(last.status))
		for k, v := range last.header {
			if name := strings.ToLower(k); strings.HasPrefix(name, "kne-") && len(v) > 0 {
				e.SetExtension(strings.TrimPrefix(name, "kne-"), v[0])
			}
		}
		if len(last.body) > 0 {
			e.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString(last.body))
		}
	}
	_, ok := h.send(ctx, h.cfg.DeadLetterSink, e)
	switch {
	case ok:
		h.src.mu.Lock()
		h.src.deadLetters = append(h.src.deadLetters, DeadLetter{ID: e.ID(), Status: last.status})
		h.src.mu.Unlock()
	case ctx.Err() == nil:
		h.src.Lost.Add(1)
	}
}

// event is the record as a CloudEvent; a record that is not one is wrapped
// as InvalidCloudEventInterceptor does.
func (h *sourceHandler) event(msg *sarama.ConsumerMessage) event.Event {
	e := h.recordEvent(msg)
	e.SetExtension("knativekafkapartition", fmt.Sprint(msg.Partition))
	e.SetExtension("knativekafkaoffset", fmt.Sprint(msg.Offset))
	return e
}

// recordEvent reads the record as the data plane's CloudEvent deserializer
// does: its headers and value, and nothing the consumer knows besides.
func (h *sourceHandler) recordEvent(msg *sarama.ConsumerMessage) event.Event {
	var contentType string
	headers := make(map[string][]byte, len(msg.Headers))
	for _, rh := range msg.Headers {
		k := strings.ToLower(string(rh.Key))
		if k == "content-type" {
			contentType = string(rh.Value)
		}
		headers[k] = rh.Value
	}
	if e, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessage(msg.Value, contentType, headers)); err == nil && e.Validate() == nil {
		return *e
	}
	e := event.New()
	e.SetID(fmt.Sprintf("partition:%d/offset:%d", msg.Partition, msg.Offset))
	e.SetTime(msg.Timestamp)
	e.SetType("dev.knative.kafka.event")
	e.SetSource(fmt.Sprintf("/apis/v1/namespaces/%s/kafkasources/cm-api-purchases#%s", h.cfg.Namespace, msg.Topic))
	e.SetSubject(fmt.Sprintf("partition:%d#%d", msg.Partition, msg.Offset))
	if msg.Key != nil {
		e.SetExtension("partitionkey", string(msg.Key))
		e.SetExtension("key", string(msg.Key))
	}
	contentType = ""
	for _, rh := range msg.Headers {
		name := strings.ToLower(string(rh.Key))
		if name == "content-type" {
			contentType = strings.ToLower(string(rh.Value))
			continue
		}
		e.SetExtension("kafkaheader"+alnum(name), string(rh.Value))
	}
	if msg.Value != nil {
		_ = e.SetData(contentType, bytes.Clone(msg.Value))
	}
	return e
}

// alnum keeps the lower-case letters and digits of s, as a CloudEvents
// extension name allows.
func alnum(s string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, s)
}
