package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// knativeScale runs the KafkaSource's delivery schedule 20 times faster than
// eventing/kafkasource.yaml says; the faults these tests inject are scaled
// by the same factor.
const knativeScale = 1.0 / 20

// TestKnativePoisonGoesToDeadLettersAtOnce: in Knative mode a record cm-api
// can never store is answered 400, which the KafkaSource does not retry: it
// goes to the dead-letter sink at once with the error extensions, and the
// partition moves on to the next purchase.
func TestKnativePoisonGoesToDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(false, nil)
	source := shop.StartKafkaSource(knativeScale)
	shop.StartServer("", nil) // only to read through getAllUserBuys

	bad := producePoison(t, brokers, shop.Topic)
	waitForPurchases(t, shop, "poison", "good-1")
	waitAllDispatched(t, shop)

	if n := source.Retried.Load(); n != 0 {
		t.Errorf("retries: got %d, want 0 (a 400 is not retried)", n)
	}
	ids := map[string]string{}
	dest := source.Destination(shop.APIURL)
	for _, e := range readCloudEvents(t, brokers, shop.DLQTopic, len(bad)) {
		ids[e["ce_id"]] = e["ce_type"]
		if e["ce_knativeerrorcode"] != "400" || e["ce_knativeerrordest"] != dest || e["ce_knativeerrordata"] == "" {
			t.Errorf("dead letter %s: got code %q dest %q data %q, want 400, %s and cm-api's answer",
				e["ce_id"], e["ce_knativeerrorcode"], e["ce_knativeerrordest"], e["ce_knativeerrordata"], dest)
		}
		// Every delivered event, dead letters and wrapped records too,
		// carries its record's partition and offset under the data plane's
		// names, not the CloudEvents SDK's.
		if e["ce_knativekafkapartition"] == "" || e["ce_knativekafkaoffset"] == "" ||
			e["ce_kafkapartition"]+e["ce_kafkaoffset"]+e["ce_kafkatopic"] != "" {
			t.Errorf("dead letter %s: got knativekafkapartition %q knativekafkaoffset %q kafkapartition %q kafkaoffset %q kafkatopic %q, want the first two only",
				e["ce_id"], e["ce_knativekafkapartition"], e["ce_knativekafkaoffset"], e["ce_kafkapartition"], e["ce_kafkaoffset"], e["ce_kafkatopic"])
		}
	}
	// The record that is no CloudEvent is wrapped as upstream does, with
	// its partition and offset as id.
	want := map[string]string{"wrong-type": "com.example.other", "bad-price": eventType}
	for id, typ := range ids {
		if strings.HasPrefix(id, "partition:") {
			want[id] = "dev.knative.kafka.event"
		}
		if want[id] != typ {
			t.Errorf("dead letter %s: got type %q, want %q", id, typ, want[id])
		}
	}
	if len(ids) != len(bad) {
		t.Errorf("dead letters: got ids %v, want the %d bad records", ids, len(bad))
	}
}

// TestKnativeSinkOverTLS: with Knative Eventing's transport encryption the
// sink is https and the SinkBinding injects its CA as K_CA_CERTS; cm-server
// trusts it, and without it refuses the sink's certificate (503).
func TestKnativeSinkOverTLS(t *testing.T) {
	t.Parallel()
	harness.StandInOnly(t, "the real receiver serves https only with a TLS Secret mounted by Kubernetes; cm-server's K_CA_CERTS handling does not depend on which sink it talks to")
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	sink, ca := harness.StartKafkaSinkTLS(t, brokers, shop.Topic)
	shop.StartAPI(true, nil)
	shop.StartServer(sink, map[string]string{"K_CA_CERTS": ca})
	id := buyOK(t, shop, joe, nil)
	waitForPurchases(t, shop, "joe", id)
	if got := readyInfo(t, shop.ServerMetrics)["transport"]; got != "http" {
		t.Errorf("/readyz info.transport: got %q, want http", got)
	}

	shop.StartServer(sink, nil)
	if status, resp, err := shop.Buy(joe, nil); err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("buy through an https sink whose CA is not trusted: got %d %+v %v, want 503", status, resp, err)
	}
}

// TestMissingTopicIsReportedNotCreated: the broker here creates topics on
// request (auto.create.topics.enable=true, the Kafka default), so a function
// that asked for one would create it with the broker's default partitions.
// Neither function may: both stay unready, say which topic is missing (on
// the metrics port; the public /readyz says only "not ready"), and the
// topics still do not exist after they tried.
func TestMissingTopicIsReportedNotCreated(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	topic := harness.Unique("absent")
	dlq := topic + "-dlq"
	env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": topic,
		"KAFKA_DLQ_TOPIC": dlq, "KAFKA_CONSUMER_GROUP": harness.Unique("cm-api"),
		"MONGODB_URI": harness.MongoURI(t), "MONGODB_DATABASE": strings.ReplaceAll(harness.Unique("shop"), "-", "_")}
	apiPort, serverPort := harness.FreePort(t), harness.FreePort(t)
	api := harness.Start(t, "cm-api", harness.Binary(t, "cm-api"), with(env, "PORT", apiPort))
	server := harness.Start(t, "cm-server", harness.Binary(t, "cm-server"), with(env, "PORT", serverPort))
	for _, c := range []struct {
		url, check string
		proc       *harness.Process
	}{{"http://127.0.0.1:" + serverPort, "events", server}, {"http://127.0.0.1:" + apiPort, "kafka", api}} {
		want := "topic " + topic + " does not exist"
		harness.Eventually(t, 30*time.Second, func() string {
			a := send("GET", c.proc.MetricsURL+"/readyz", "", nil, 5*time.Second)
			var body struct{ Checks map[string]string }
			_ = json.Unmarshal(a.body, &body)
			if a.status != http.StatusServiceUnavailable || body.Checks[c.check] != want {
				return fmt.Sprintf("%s metrics port /readyz: got %d %s, want 503 with %s: %q", c.proc.Name, a.status, a.body, c.check, want)
			}
			return ""
		})
		if a := send("GET", c.url+"/readyz", "", nil, 5*time.Second); a.status != http.StatusServiceUnavailable ||
			strings.TrimSpace(string(a.body)) != `{"status":"not ready"}` {
			t.Errorf("%s public /readyz: got %d %s, want 503 {\"status\":\"not ready\"} only", c.proc.Name, a.status, a.body)
		}
		harness.Eventually(t, 10*time.Second, func() string {
			if !strings.Contains(c.proc.Output(), want) {
				return c.proc.Name + "'s log does not say " + want
			}
			return ""
		})
	}
	if a := send("POST", "http://127.0.0.1:"+serverPort+"/buy", joe, nil, 30*time.Second); a.status != http.StatusServiceUnavailable {
		t.Errorf("buy with no topic: got %d %s, want 503", a.status, a.body)
	}
	// Look only after cm-api's consumer group has asked for the topics'
	// metadata and failed three times (it logs each and retries every
	// second), and cm-server's send above failed: any of them would have made
	// the broker create a topic by then.
	harness.Eventually(t, 30*time.Second, func() string {
		if n := strings.Count(api.Output(), "consume failed, rejoining"); n < 3 {
			return fmt.Sprintf("cm-api tried to consume %d times, want 3 or more", n)
		}
		return ""
	})
	for _, name := range []string{topic, dlq} {
		if topicExists(t, brokers, name) {
			t.Errorf("topic %s: got created by a function, want it left absent", name)
		}
	}
	harness.CreateTopics(t, brokers, 3, topic, dlq)
	harness.WaitReady(t, "http://127.0.0.1:"+serverPort+"/readyz", 30*time.Second)
	harness.WaitReady(t, "http://127.0.0.1:"+apiPort+"/readyz", 30*time.Second)
}

// waitAllDispatched waits until the shop's consumer group has committed
// every record of its topic: nothing is in flight any more, so what was not
// dead-lettered by then never will be.
func waitAllDispatched(t *testing.T, shop *harness.Shop) {
	t.Helper()
	harness.Eventually(t, visibleWithin, func() string {
		committed, written := committedOffsets(t, shop.Brokers, shop.Group, shop.Topic), shop.TopicRecords(t)
		if committed != written {
			return fmt.Sprintf("committed offsets: got %d, want all %d records", committed, written)
		}
		return ""
	})
}

// readyInfo is the info object of the /readyz answer on a function's
// metrics port, base.
func readyInfo(t *testing.T, base string) map[string]string {
	t.Helper()
	a := send("GET", base+"/readyz", "", nil, 5*time.Second)
	var body struct{ Info map[string]string }
	if err := json.Unmarshal(a.body, &body); err != nil {
		t.Fatalf("/readyz: %v in %q", err, a.body)
	}
	return body.Info
}

func topicExists(t *testing.T, brokers []string, topic string) bool {
	t.Helper()
	admin := harness.ClusterAdmin(t, brokers)
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	_, ok := topics[topic]
	return ok
}

// topicRecords counts the records ever written to topic.
func topicRecords(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	return (&harness.Shop{Brokers: brokers, Topic: topic}).TopicRecords(t)
}

// readCloudEvents reads n records of topic, in offset order per partition,
// and returns each one's headers (a binary-mode CloudEvent's attributes are
// its ce_* headers).
func readCloudEvents(t *testing.T, brokers []string, topic string, n int) []map[string]string {
	t.Helper()
	var out []map[string]string
	forEachRecord(t, brokers, topic, n, func(msg *sarama.ConsumerMessage) {
		headers := map[string]string{}
		for _, h := range msg.Headers {
			headers[string(h.Key)] = string(h.Value)
		}
		out = append(out, headers)
	})
	return out
}
