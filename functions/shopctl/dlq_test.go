package shopctl

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// produceDeadLetters writes the dead letters both modes write: cm-api's
// copy of the record with its dlq-* headers (consume.go's deadLetter), and
// the event a KafkaSink writes in binary mode with the dispatcher's
// knativeerror* and knativekafka* extensions (test/harness/kafkasource.go,
// /work/shared/DATAPLANE.md), and a record that is no CloudEvent.
func produceDeadLetters(t *testing.T, vars map[string]string) {
	t.Helper()
	if _, _, code := shopctl(t, vars, "topics", "ensure", "--replication-factor", "1"); code != 0 {
		t.Fatalf("topics ensure: exit %d", code)
	}
	send := dlqSender(t, vars)
	kafkaMode := purchase.NewEvent(purchase.Purchase{ID: "kafka-dead-1", Username: "ann", UserID: "u-ann",
		Price: mustMoney(t, "12.50"), Timestamp: time.Now().UTC().Truncate(time.Second)}, "cm-server")
	send(kafkaMode,
		sarama.RecordHeader{Key: []byte("dlq-reason"), Value: []byte("purchase id already used by a different purchase")},
		sarama.RecordHeader{Key: []byte("dlq-original-topic"), Value: []byte("purchases")},
		sarama.RecordHeader{Key: []byte("dlq-original-partition"), Value: []byte("7")},
		sarama.RecordHeader{Key: []byte("dlq-original-offset"), Value: []byte("4711")})
	knative := purchase.NewEvent(purchase.Purchase{ID: "knative-dead-1", Username: "bob", UserID: "u-bob",
		Price: mustMoney(t, "3.00"), Timestamp: time.Now().UTC().Truncate(time.Second)}, "cm-server")
	knative.SetExtension("knativeerrordest", "http://cm-api.shop.svc.cluster.local")
	knative.SetExtension("knativeerrorcode", "422")
	knative.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString(
		[]byte(`{"status":"Error","message":"the purchase store refuses this purchase"}`)))
	knative.SetExtension("knativekafkapartition", "2")
	knative.SetExtension("knativekafkaoffset", "99")
	send(knative)
	sendGarbage(t, vars)
}

// dlqSender returns a function that writes e to the dead-letter topic in
// binary mode, as the SDK's Kafka binding (and a KafkaSink) does, with
// headers added.
func dlqSender(t *testing.T, vars map[string]string) func(e event.Event, headers ...sarama.RecordHeader) {
	t.Helper()
	c := sarama.NewConfig()
	c.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(strings.Split(vars["KAFKA_BROKERS"], ","), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { producer.Close() })
	return func(e event.Event, headers ...sarama.RecordHeader) {
		t.Helper()
		pm := &sarama.ProducerMessage{Topic: vars["KAFKA_DLQ_TOPIC"]}
		if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), pm); err != nil {
			t.Fatal(err)
		}
		pm.Headers = append(pm.Headers, headers...)
		if _, _, err := producer.SendMessage(pm); err != nil {
			t.Fatal(err)
		}
	}
}

// sendGarbage writes a record that is no CloudEvent, dead-lettered by cm-api.
func sendGarbage(t *testing.T, vars map[string]string) {
	t.Helper()
	c := sarama.NewConfig()
	c.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(strings.Split(vars["KAFKA_BROKERS"], ","), c)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: vars["KAFKA_DLQ_TOPIC"], Value: sarama.StringEncoder("garbage"),
		Headers: []sarama.RecordHeader{{Key: []byte("dlq-reason"), Value: []byte("not a CloudEvent")}}}); err != nil {
		t.Fatal(err)
	}
}

func mustMoney(t *testing.T, s string) purchase.Money {
	t.Helper()
	var m purchase.Money
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("money %s: %v", s, err)
	}
	return m
}

// TestDLQList_bothModesJSON lists the dead letters of both modes as JSON
// and finds what each says about itself.
func TestDLQList_bothModesJSON(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	produceDeadLetters(t, vars)
	out, errOut, code := shopctl(t, vars, "dlq", "list", "--json")
	if code != 0 {
		t.Fatalf("got exit %d %q, want 0", code, errOut)
	}
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		id, _ := row["purchase_id"].(string)
		got[id] = row
	}
	if len(got) != 3 {
		t.Fatalf("got %d dead letters %q, want 3", len(got), out)
	}
	for id, want := range map[string]map[string]any{
		"kafka-dead-1": {"mode": "kafka", "user_id": "u-ann", "username": "ann", "reason": "purchase id already used by a different purchase",
			"original_topic": "purchases", "original_partition": 7.0, "original_offset": 4711.0},
		"knative-dead-1": {"mode": "knative", "user_id": "u-bob", "status_code": "422",
			"reason": "the purchase store refuses this purchase", "original_partition": 2.0, "original_offset": 99.0},
		"": {"mode": "kafka", "reason": "not a CloudEvent"},
	} {
		for k, v := range want {
			if got[id][k] != v {
				t.Errorf("%q %s: got %v, want %v", id, k, got[id][k], v)
			}
		}
	}
	if inv, _ := got[""]["invalid"].(string); !strings.HasPrefix(inv, "not a CloudEvent") {
		t.Errorf("garbage record: got invalid %q, want it not a CloudEvent", inv)
	}
}

// TestDLQList_tableAndFilters: the table has one row per dead letter and
// the filters keep only what matches.
func TestDLQList_tableAndFilters(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	produceDeadLetters(t, vars)
	for name, tc := range map[string]struct {
		args       []string
		want, none []string
	}{
		"all":            {nil, []string{"kafka-dead-1", "knative-dead-1", "purchases/7/4711", "-/2/99", "3 dead letters"}, nil},
		"reason_422":     {[]string{"--reason", "422"}, []string{"knative-dead-1", "1 dead letters"}, []string{"kafka-dead-1"}},
		"reason_text":    {[]string{"--reason", "ALREADY USED"}, []string{"kafka-dead-1"}, []string{"knative-dead-1"}},
		"user_name":      {[]string{"--user", "bob"}, []string{"knative-dead-1"}, []string{"kafka-dead-1"}},
		"user_id":        {[]string{"--user", "u-ann"}, []string{"kafka-dead-1"}, []string{"knative-dead-1"}},
		"since_future":   {[]string{"--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, []string{"0 dead letters"}, []string{"dead-1"}},
		"since_duration": {[]string{"--since", "1h"}, []string{"3 dead letters"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := shopctl(t, vars, append([]string{"dlq", "list"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("got exit %d %q, want 0", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("got %q, want %q in it", out, w)
				}
			}
			for _, n := range tc.none {
				if strings.Contains(out, n) {
					t.Errorf("got %q, want no %q", out, n)
				}
			}
		})
	}
}
