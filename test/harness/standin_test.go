package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"sigs.k8s.io/yaml"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// The stand-ins' tests: each behaviour taken from the real data plane has a
// test here that fails when the stand-in stops showing it. With
// SHOP_DATAPLANE set (make test-dataplane) StartKafkaSink and
// StartKafkaSource start the real receiver and dispatcher, so the same
// TestKafkaSinkStandIn_* and TestKafkaSourceStandIn_* assertions run
// against the real data plane: what passes on the stand-ins passes there.

// recorder is a subscriber that records every request's headers and answers
// with what answer says.
type recorder struct {
	mu     sync.Mutex
	seen   []http.Header
	answer func(h http.Header) int
}

func startRecorder(t *testing.T, answer func(http.Header) int) (*recorder, string) {
	t.Helper()
	r := &recorder{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Header.Clone())
		r.mu.Unlock()
		w.WriteHeader(r.answer(req.Header))
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *recorder) requests() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

func ok(http.Header) int { return http.StatusOK }

// produce writes records to topic as the tests need them: a binary-mode
// CloudEvent with id (and a traceparent record header when tp is set), or,
// for an empty id, a record that is no CloudEvent.
func produce(t *testing.T, brokers []string, topic string, records ...[2]string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, rec := range records {
		id, tp := rec[0], rec[1]
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(`{"n":1}`)}
		if id != "" {
			m.Headers = []sarama.RecordHeader{{Key: []byte("ce_specversion"), Value: []byte("1.0")},
				{Key: []byte("ce_id"), Value: []byte(id)}, {Key: []byte("ce_source"), Value: []byte("/test")},
				{Key: []byte("ce_type"), Value: []byte("test.v1")}, {Key: []byte("content-type"), Value: []byte("application/json")}}
		}
		if tp != "" {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte("traceparent"), Value: []byte(tp)})
		}
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatal(err)
		}
	}
}

// testDelivery is a delivery fast enough for a test, with the shipped
// policy's shape.
func testDelivery(retry int) Delivery {
	return Delivery{Retry: retry, Linear: true, Delay: 100 * time.Millisecond, Timeout: 5 * time.Second,
		Ordered: true, InitialOffset: "earliest"}
}

func TestKafkaSinkStandIn_unknownPathIs404(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic := Unique("standin-sink")
	CreateTopics(t, brokers, 1, topic)
	url := StartKafkaSink(t, brokers, topic)
	if !strings.HasSuffix(url, "/shop/purchases") {
		t.Errorf("sink URL: got %s, want the receiver's address with /shop/purchases", url)
	}
	post := func(u string) int {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{}`))
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "a", "Ce-Source": "/t", "Ce-Type": "t", "Content-Type": "application/json"} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	root := strings.TrimSuffix(url, "/shop/purchases")
	for _, u := range []string{root + "/", root + "/shop/other", url + "/x", root + "/shop/purchases-dlq"} {
		if got := post(u); got != http.StatusNotFound {
			t.Errorf("POST %s: got %d, want 404", u, got)
		}
	}
	// The receiver drops one trailing slash before it looks the path up.
	for _, u := range []string{url, url + "/"} {
		if got := post(u); got != http.StatusAccepted {
			t.Errorf("POST %s: got %d, want 202", u, got)
		}
	}
}

func TestKafkaSinkStandIn_writesTraceparentOfTracedRequest(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic := Unique("standin-trace")
	CreateTopics(t, brokers, 1, topic)
	url := StartKafkaSink(t, brokers, topic)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for i, tp := range []string{"00-" + trace + "-00f067aa0ba902b7-01", "00-" + trace + "-00f067aa0ba902b7-00", ""} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": fmt.Sprint(i), "Ce-Source": "/t", "Ce-Type": "t",
			"Content-Type": "application/json", "traceparent": tp} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: got %d, want 202", resp.StatusCode)
		}
	}
	got := map[string]string{}
	for _, m := range consume(t, brokers, topic, 3) {
		var id, tp string
		for _, h := range m.Headers {
			switch string(h.Key) {
			case "ce_id":
				id = string(h.Value)
			case "traceparent":
				tp = string(h.Value)
			}
		}
		got[id] = tp
	}
	if tp := got["0"]; !strings.HasPrefix(tp, "00-"+trace+"-") || !strings.HasSuffix(tp, "-01") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("record of a sampled request: traceparent %q, want trace %s with the receiver's own span, sampled", tp, trace)
	}
	// An unsampled parent gives an unsampled span, still propagated.
	if tp := got["1"]; !strings.HasPrefix(tp, "00-"+trace+"-") || !strings.HasSuffix(tp, "-00") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("record of an unsampled request: traceparent %q, want trace %s with the receiver's own span, unsampled", tp, trace)
	}
	if got["2"] != "" {
		t.Errorf("record of a request without a trace: traceparent %q, want none", got["2"])
	}
}

// consume reads the first n records of topic's partition 0.
func consume(t *testing.T, brokers []string, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-timeout:
			t.Fatalf("topic %s: got %d records, want %d", topic, len(out), n)
		}
	}
	return out
}

func TestKafkaSourceStandIn_deliversPartitionOffsetAndTraceparent(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic := Unique("standin-ext")
	CreateTopics(t, brokers, 1, topic)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	produce(t, brokers, topic, [2]string{"traced", "00-" + trace + "-00f067aa0ba902b7-01"}, [2]string{"plain", ""}, [2]string{"", ""})
	rec, sink := startRecorder(t, ok)
	StartKafkaSource(t, SourceConfig{Brokers: brokers, Topic: topic, Group: Unique("g"), Sink: sink, Delivery: testDelivery(0)})
	Eventually(t, 30*time.Second, func() string {
		if n := len(rec.requests()); n != 3 {
			return fmt.Sprintf("subscriber got %d events, want 3", n)
		}
		return ""
	})
	for i, h := range rec.requests() {
		if h.Get("Ce-Knativekafkapartition") != "0" || h.Get("Ce-Knativekafkaoffset") != fmt.Sprint(i) {
			t.Errorf("event %d (%s): knativekafkapartition %q knativekafkaoffset %q, want 0 and %d",
				i, h.Get("Ce-Id"), h.Get("Ce-Knativekafkapartition"), h.Get("Ce-Knativekafkaoffset"), i)
		}
		if sdk := h.Get("Ce-Kafkapartition") + h.Get("Ce-Kafkaoffset") + h.Get("Ce-Kafkatopic"); sdk != "" {
			t.Errorf("event %d: carries the SDK's kafka* extensions (%q), want none", i, sdk)
		}
		if i > 0 {
			// A record without a traceparent: no trace is started for it.
			if tp := h.Get("traceparent"); tp != "" {
				t.Errorf("event %d (no record traceparent): HTTP traceparent %q, want none", i, tp)
			}
			continue
		}
		tp := strings.Split(h.Get("traceparent"), "-")
		if len(tp) != 4 || tp[1] != trace || tp[2] == "00f067aa0ba902b7" || tp[3] != "01" {
			t.Errorf("event %d: HTTP traceparent %q, want the record's trace %s with the dispatcher's own span, sampled",
				i, h.Get("traceparent"), trace)
		}
	}
}

func TestShippedDelivery_withoutBackoffDelayWaits200ms(t *testing.T) {
	t.Parallel()
	var src kafkaSourceDoc
	if err := yaml.Unmarshal([]byte("spec:\n  delivery:\n    retry: 3\n"), &src); err != nil {
		t.Fatal(err)
	}
	if d := delivery(t, src); d.Delay != 200*time.Millisecond || d.Backoff(1) != 400*time.Millisecond {
		t.Errorf("no backoffDelay: got delay %v, first wait %v; want 200ms and 400ms (exponential)", d.Delay, d.Backoff(1))
	}
}

// TestKafkaSourceStandIn_crashRedeliversUncommitted: offsets are committed
// every 5 s, so what a crashed dispatcher delivered after its last commit
// comes again, even a second and a half later.
func TestKafkaSourceStandIn_crashRedeliversUncommitted(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic, group := Unique("standin-crash"), Unique("g")
	CreateTopics(t, brokers, 1, topic)
	rec, sink := startRecorder(t, ok)
	cfg := SourceConfig{Brokers: brokers, Topic: topic, Group: group, Sink: sink, Delivery: testDelivery(0)}
	produce(t, brokers, topic, [2]string{"first", ""})
	first := StartKafkaSource(t, cfg)
	// Wait for the first commit, so the crash falls early in a commit interval.
	Eventually(t, 30*time.Second, func() string {
		if got := committed(t, brokers, group, topic); got != 1 {
			return fmt.Sprintf("committed offset %d, want 1", got)
		}
		return ""
	})
	produce(t, brokers, topic, [2]string{"a", ""}, [2]string{"b", ""}, [2]string{"c", ""})
	Eventually(t, 10*time.Second, func() string {
		if n := first.Delivered.Load(); n != 4 {
			return fmt.Sprintf("delivered %d, want 4", n)
		}
		return ""
	})
	time.Sleep(1500 * time.Millisecond) // longer than a 1 s commit timer would wait
	first.Crash()
	if got := committed(t, brokers, group, topic); got != 1 {
		t.Fatalf("committed offset after the crash: got %d, want 1 (the three were delivered within the commit interval)", got)
	}
	second := StartKafkaSource(t, cfg)
	Eventually(t, 30*time.Second, func() string {
		if n := second.Delivered.Load(); n != 3 {
			return fmt.Sprintf("after the crash: delivered %d, want the 3 uncommitted again", n)
		}
		return ""
	})
	if n := len(rec.requests()); n != 7 {
		t.Errorf("subscriber got %d events, want 7 (4, then 3 again)", n)
	}
}

// committed is the group's committed offset of topic's partition 0 (-1 for none).
func committed(t *testing.T, brokers []string, group, topic string) int64 {
	t.Helper()
	admin := ClusterAdmin(t, brokers)
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetBlock(topic, 0).Offset
}

// TestKafkaSourceStandIn_rebalanceLeavesRetryLoopRunning: on a rebalance
// the old owner's in-flight delivery keeps retrying while the partition's
// new owner delivers the same record again: the subscriber acknowledges it
// twice. The topic has a second, idle partition: the real consumer rejoins
// the group only from its poll loop, which does not poll while every
// partition it owns has an event in flight (OrderedConsumerVerticle.java,
// areAllExecutorsBusy), so with one stuck partition of one the rebalance
// would wait for the retries to end (docs/testing.md).
func TestKafkaSourceStandIn_rebalanceLeavesRetryLoopRunning(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic, group := Unique("standin-rebalance"), Unique("g")
	CreateTopics(t, brokers, 2, topic)
	var mu sync.Mutex
	failing, acked := true, 0
	rec, sink := startRecorder(t, func(http.Header) int {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return http.StatusServiceUnavailable
		}
		acked++
		return http.StatusOK
	})
	cfg := SourceConfig{Brokers: brokers, Topic: topic, Group: group, Sink: sink, Delivery: testDelivery(1000),
		Consumer: Consumer{CommitInterval: 250 * time.Millisecond, PollInterval: 10 * time.Millisecond, MaxPollRecords: 50}}
	produce(t, brokers, topic, [2]string{"stuck", ""})
	first := StartKafkaSource(t, cfg)
	Eventually(t, 30*time.Second, func() string {
		if n := len(rec.requests()); n < 2 {
			return fmt.Sprintf("%d attempts, want the first owner retrying", n)
		}
		return ""
	})
	// Joins the group: a rebalance. The old owner's revoke commits nothing
	// (the record is still failing), so the partition's owner then starts a
	// loop of its own from offset 0.
	second := StartKafkaSource(t, cfg)
	Eventually(t, 60*time.Second, func() string {
		if a, b := first.Sessions.Load(), second.Sessions.Load(); a < 2 || b < 1 {
			return fmt.Sprintf("sessions: first %d, second %d; want the rebalance done (2, 1)", a, b)
		}
		return ""
	})
	before := len(rec.requests())
	Eventually(t, 60*time.Second, func() string {
		if n := len(rec.requests()) - before; n < 2 {
			return fmt.Sprintf("%d attempts since the rebalance, want 2 or more", n)
		}
		return ""
	})
	mu.Lock()
	failing = false
	mu.Unlock()
	Eventually(t, 30*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		if acked < 2 {
			return fmt.Sprintf("the record was acknowledged %d times, want 2 or more (each loop)", acked)
		}
		return ""
	})
}

// TestPoller_atMostMaxRecordsPerInterval: a poll returns at most
// max.poll.records and the next comes on the poll timer, so 120 waiting
// records take three polls and at least two intervals.
func TestPoller_atMostMaxRecordsPerInterval(t *testing.T) {
	t.Parallel()
	msgs := make(chan *sarama.ConsumerMessage, 200)
	for i := range 120 {
		msgs <- &sarama.ConsumerMessage{Offset: int64(i)}
	}
	const interval = 50 * time.Millisecond
	p := newPoller(Consumer{PollInterval: interval, MaxPollRecords: 50})
	start := time.Now()
	var sizes []int
	for i := 0; i < 3; i++ {
		sizes = append(sizes, len(p.take(context.Background(), msgs, i > 0)))
	}
	if fmt.Sprint(sizes) != "[50 50 20]" {
		t.Errorf("polls returned %v records, want [50 50 20]", sizes)
	}
	if took := time.Since(start); took < 2*interval {
		t.Errorf("three polls took %v, want at least two poll intervals (%v)", took, 2*interval)
	}
}

func TestShippedConsumer_isTheDataPlanes(t *testing.T) {
	t.Parallel()
	if c := ShippedConsumer(); c != (Consumer{CommitInterval: 5 * time.Second, PollInterval: 200 * time.Millisecond, MaxPollRecords: 50}) {
		t.Errorf("ShippedConsumer: got %+v, want commits every 5s, a poll every 200ms of at most 50 records", c)
	}
	if got := stack.KafkaSinkDeliveryTimeout; got != 120*time.Second {
		t.Errorf("KafkaSink delivery timeout: got %v, want 120s", got)
	}
	if c := stack.KafkaSinkProducerConfig(); c.Producer.Idempotent || c.Net.MaxOpenRequests != 5 {
		t.Errorf("KafkaSink producer: idempotent %v, %d requests in flight; want false, 5", c.Producer.Idempotent, c.Net.MaxOpenRequests)
	}
}

// TestKafkaSourceStandIn_deadLetterSinkNeedsATokenForItsOwnAudience: with
// authentication-oidc on, a KafkaSink answers 401 without a token for its
// own audience and 403 for a subject no policy allows, and the dispatcher
// sends the dead-letter sink a token for the dead-letter sink's audience.
// Given the subscriber's token instead, the dead letter is refused (not
// retried) and the event is lost. The receiver's check is the stand-in's on
// both runs (the real receiver's needs the cluster's OIDC discovery); under
// SHOP_DATAPLANE the dispatcher is the real one, which asks the loopback
// TokenRequest API (fakeTokenAPI) for the dead-letter sink's audience.
func TestKafkaSourceStandIn_deadLetterSinkNeedsATokenForItsOwnAudience(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	const subject = "system:serviceaccount:shop:cm-api-purchases-oidc-sources.knative.dev-kafkasource"
	dlsAudience := KafkaSinkAudience("shop", "purchases-dlq")
	iss := authtest.NewIssuer(t, dlsAudience)
	dlqTopic := Unique("standin-dlq")
	CreateTopics(t, brokers, 1, dlqTopic)
	h := kafkaSinkHandler(t, brokers, dlqTopic, "purchases-dlq")
	h.auth = &SinkAuth{IssuerURL: iss.URL, Audience: dlsAudience, Subjects: []string{subject}}
	dls := httptestServer(t, h) + sinkPath("purchases-dlq")

	forDLS := func() string { return iss.Token(t, "", authtest.Claims{"sub": subject}) }
	forSink := func() string { return iss.Token(t, "", authtest.Claims{"sub": subject, "aud": "cm-api"}) }
	for _, c := range []struct {
		name  string
		token string
		want  int
	}{
		{"no_token", "", http.StatusUnauthorized},
		{"subscribers_audience", forSink(), http.StatusUnauthorized},
		{"another_subject", iss.Token(t, "", authtest.Claims{"sub": "system:serviceaccount:shop:default"}), http.StatusForbidden},
		{"own_audience", forDLS(), http.StatusAccepted},
	} {
		req, _ := http.NewRequest(http.MethodPost, dls, strings.NewReader(`{}`))
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": c.name, "Ce-Source": "/t", "Ce-Type": "t", "Content-Type": "application/json"} {
			req.Header.Set(k, v)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST to the dead-letter sink, %s: got %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}

	_, refusing := startRecorder(t, func(http.Header) int { return http.StatusBadRequest })
	for _, c := range []struct {
		name       string
		token      func() string
		dead, lost int64
	}{
		{"dls_audience", forDLS, 1, 0},
		{"subscribers_audience", forSink, 0, 1},
	} {
		topic := Unique("standin-auth")
		CreateTopics(t, brokers, 1, topic)
		produce(t, brokers, topic, [2]string{"poison-" + c.name, ""})
		src := StartKafkaSource(t, SourceConfig{Brokers: brokers, Topic: topic, Group: Unique("g"), Sink: refusing,
			DeadLetterSink: dls, Delivery: func() Delivery { d := testDelivery(3); d.DeadLetterSink = true; return d }(),
			Token: forSink, DeadLetterToken: c.token})
		Eventually(t, 30*time.Second, func() string {
			if dead, lost := int64(len(src.DeadLetters())), src.Lost.Load(); dead != c.dead || lost != c.lost {
				return fmt.Sprintf("%s: %d dead letters, %d lost; want %d, %d", c.name, dead, lost, c.dead, c.lost)
			}
			return ""
		})
	}
	// The one accepted POST and the one dead letter, nothing else.
	if n := len(consume(t, brokers, dlqTopic, 2)); n != 2 {
		t.Errorf("dead-letter topic: got %d records, want 2", n)
	}
}

// TestKafkaSourceStandIn_createsAMissingTopic: the dispatcher's consumer
// runs with allow.auto.create.topics=true, so on a broker that allows it
// (hack/kafka.sh's does, as Kafka's default) subscribing creates the topic
// with the broker's defaults.
func TestKafkaSourceStandIn_createsAMissingTopic(t *testing.T) {
	t.Parallel()
	brokers := Integration(t)
	topic := Unique("standin-missing")
	_, sink := startRecorder(t, ok)
	StartKafkaSource(t, SourceConfig{Brokers: brokers, Topic: topic, Group: Unique("g"), Sink: sink, Delivery: testDelivery(0)})
	admin := ClusterAdmin(t, brokers)
	defer admin.Close()
	Eventually(t, 30*time.Second, func() string {
		topics, err := admin.ListTopics()
		if err != nil {
			return err.Error()
		}
		if _, ok := topics[topic]; !ok {
			return fmt.Sprintf("topic %s not created by the subscription", topic)
		}
		return ""
	})
}
