package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

func TestIdempotencyKeyRetriesAreOnePurchase(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	body := `{"username":"retrier","userid":"r-1","price":"3.00"}` // no timestamp: each retry gets a new server time
	key := map[string]string{"Idempotency-Key": "order-7f3a"}
	first := buyOK(t, shop, body, key)
	for i := range 4 {
		if again := buyOK(t, shop, body, key); again != first {
			t.Fatalf("retry %d: got id %s, want %s", i+1, again, first)
		}
	}
	marker := buyOK(t, shop, `{"username":"retrier","userid":"r-1","price":"0.01"}`, nil)
	waitForPurchases(t, shop, "retrier", first, marker)
	// The marker may be stored before the retries are handled (cm-api writes
	// a partition's records concurrently). A retry that came after the first
	// was stored is answered without sending; the others are sent and must
	// each be counted as a duplicate. Wait for every sent event to be
	// handled, then the list must still hold the purchase once.
	sent := metricValue(t, shop.ServerMetrics, `shop_events_sent_total{function="cm-server",result="acked"}`)
	harness.Eventually(t, visibleWithin, func() string {
		api := func(result string) float64 {
			return metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="`+result+`"}`)
		}
		if stored, dup := api("stored"), api("duplicate"); stored != 2 || stored+dup != sent {
			return fmt.Sprintf("cm-api counted %v stored and %v duplicates of %v sent, want 2 stored and the rest duplicates", stored, dup, sent)
		}
		return ""
	})
	waitForPurchases(t, shop, "retrier", first, marker)
}

// eventType is the purchase event's type: part of the wire contract, so
// spelled out here rather than imported.
const eventType = "io.scalableshop.purchase.created.v1"

// purchaseEvent builds a purchase event from outside the functions' code.
func purchaseEvent(t *testing.T, id, data string) event.Event {
	t.Helper()
	e := event.New()
	e.SetID(id)
	e.SetType(eventType)
	e.SetSource("/test")
	e.SetExtension("partitionkey", "t-1")
	if err := e.SetData(event.ApplicationJSON, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return e
}

// produceEvent writes a purchase event to the topic the way a KafkaSink does.
func produceEvent(t *testing.T, brokers []string, topic string, e event.Event) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	sender, err := kafka_sarama.NewSender(brokers, cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	if err := sender.Send(context.Background(), binding.ToMessage(&e)); err != nil {
		t.Fatalf("produce event %s: %v", e.ID(), err)
	}
}

func TestDuplicateEventIsOneDocument(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	for _, mode := range []string{"kafka", "knative"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			shop := harness.NewShop(t, brokers, harness.MongoURI(t))
			var source *harness.KafkaSource
			if mode == "kafka" {
				shop.StartAPI(true, nil)
			} else {
				shop.StartAPI(false, nil)
				source = shop.StartKafkaSource(1)
			}
			data := `{"username":"twice","userid":"t-1","price":"9.99","timestamp":"2024-05-31T15:54:32.204Z"}`
			for range 3 {
				produceEvent(t, brokers, shop.Topic, purchaseEvent(t, "dup-"+mode, data))
			}
			produceEvent(t, brokers, shop.Topic, purchaseEvent(t, "marker-"+mode, strings.Replace(data, "9.99", "0.01", 1)))
			shop.StartServer("", nil) // only to read through getAllUserBuys
			waitForPurchases(t, shop, "twice", "dup-"+mode, "marker-"+mode)
			// Both modes deliver a partition's records concurrently (cm-api
			// in Kafka mode, the unordered KafkaSource in Knative mode), so
			// the marker may be stored before the last copy is answered.
			if source != nil {
				harness.Eventually(t, 10*time.Second, func() string {
					if n := source.Delivered.Load(); n < 4 {
						return fmt.Sprintf("KafkaSource delivered %d, want 4 (3 duplicates answered 2xx)", n)
					}
					return ""
				})
			}
			// Both modes: the two copies were counted as duplicates (stored
			// once), not dead-lettered or rejected as conflicts.
			api := func(result string) float64 {
				return metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="`+result+`"}`)
			}
			harness.Eventually(t, 10*time.Second, func() string {
				if dup, dead, rej := api("duplicate"), api("dead_lettered"), api("rejected"); dup < 2 || dead != 0 || rej != 0 {
					return fmt.Sprintf("cm-api counted %v duplicate, %v dead_lettered, %v rejected; want >= 2, 0, 0", dup, dead, rej)
				}
				return ""
			})
		})
	}
}

func TestStoreOutageLosesNothing(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	if testing.Short() {
		t.Skip("skipped with -short")
	}
	mongo, dir := harness.OwnMongo(t)
	shop := harness.NewShop(t, brokers, mongo.URI())
	shop.StartAPI(true, map[string]string{"MONGODB_TIMEOUT": "1s"})
	shop.StartServer("", nil)
	ids := []string{buyOK(t, shop, `{"username":"steady","userid":"s-1","price":"1.00"}`, nil)}
	waitForPurchases(t, shop, "steady", ids...)
	// Offsets are committed every second; wait for the first purchase's.
	const committed = 1
	harness.Eventually(t, 15*time.Second, func() string {
		if got := committedOffsets(t, brokers, shop.Group, shop.Topic); got != committed {
			return fmt.Sprintf("committed offsets: got %d, want %d", got, committed)
		}
		return ""
	})

	mongo.Close()
	// The metrics port reports the outage; the probed /readyz stays ready,
	// so cm-api stays in service (TestStoreOutageKeepsCMAPIInService).
	harness.Eventually(t, 15*time.Second, func() string {
		resp, err := http.Get(shop.APIMetrics + "/readyz")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Sprintf("cm-api metrics port readyz during the outage: got %d, want 503", resp.StatusCode)
		}
		return ""
	})
	for i := range 20 {
		ids = append(ids, buyOK(t, shop, fmt.Sprintf(`{"username":"steady","userid":"s-%d","price":"%d.00"}`, i%3, i), nil))
	}
	// Before looking at the commits, wait until cm-api has tried to store
	// every record bought meanwhile and failed (it logs each retry), the lag
	// shows all of them unmarked (measured from the brokers' high-water marks
	// every 5 s, not frozen when pulling stops), and the oldest pending one
	// has waited over 2 s, two commit intervals: a record marked after a
	// failed write would have been committed by then.
	harness.Eventually(t, 20*time.Second, func() string {
		retried := retriedRecords(shop.API.Output())
		lag := metricSeries(t, shop.APIMetrics, "shop_consumer_lag")
		age := metricSeries(t, shop.APIMetrics, "shop_consumer_oldest_pending_seconds")
		if retried < 20 || sum(lag) != 20 || slices.Max(append(age, 0)) < 2 {
			return fmt.Sprintf("during the outage: %d records retried, lag %v, oldest pending ages %v s; "+
				"want 20 retried, 20 in all and one over 2 s", retried, lag, age)
		}
		return ""
	})
	if now := committedOffsets(t, brokers, shop.Group, shop.Topic); now != committed {
		t.Errorf("committed offsets during the outage: got %d, want %d (nothing stored, nothing acknowledged)", now, committed)
	}

	restarted, err := stack.StartMongo(context.Background(), mongo.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
	t.Cleanup(restarted.Close)
	waitForPurchases(t, shop, "steady", ids...)
	harness.WaitReady(t, shop.APIURL+"/readyz", 15*time.Second)
}

// retriedRecords counts the records (partition and offset) whose write cm-api
// logged as failed and retried.
func retriedRecords(logs string) int {
	seen := map[[2]int64]bool{}
	for line := range strings.Lines(logs) {
		var l struct {
			Msg               string
			Partition, Offset int64
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "record not handled, retrying" {
			seen[[2]int64{l.Partition, l.Offset}] = true
		}
	}
	return len(seen)
}

// committedOffsets sums the group's committed offsets on topic.
func committedOffsets(t *testing.T, brokers []string, group, topic string) int64 {
	t.Helper()
	admin := harness.ClusterAdmin(t, brokers)
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range resp.Blocks[topic] {
		if b.Offset > 0 {
			sum += b.Offset
		}
	}
	return sum
}

func TestPoisonRecordsGoToDeadLetters(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)

	bad := producePoison(t, brokers, shop.Topic)
	waitForPurchases(t, shop, "poison", "good-1")

	reasons := readDeadLetters(t, brokers, shop.DLQTopic, len(bad))
	for i, want := range []string{"not a CloudEvent", "type", "price"} {
		if !strings.Contains(reasons[i], want) {
			t.Errorf("dead letter %d: reason %q, want it to mention %q", i, reasons[i], want)
		}
	}
}

// producePoison writes three records cm-api can never store (bytes that are
// no CloudEvent, a CloudEvent of another type, a purchase with a negative
// price) and then a good purchase "good-1" of user "poison", all on one
// partition, so the good one is handled after the bad ones. It returns the
// bad records.
func producePoison(t *testing.T, brokers []string, topic string) []*sarama.ProducerMessage {
	t.Helper()
	producer := harness.SyncProducer(t, brokers)
	key := sarama.StringEncoder("poison") // one partition, so the good record comes after the bad ones
	bad := []*sarama.ProducerMessage{
		{Topic: topic, Key: key, Value: sarama.ByteEncoder{0xff, 0x00, 0x13, 0x37}},
		{Topic: topic, Key: key, Value: sarama.StringEncoder(`{}`), Headers: ceHeaders("wrong-type", "com.example.other")},
		{Topic: topic, Key: key, Value: sarama.StringEncoder(`{"username":"poison","userid":"p","price":"-5","timestamp":"2024-05-31T15:54:32.204Z"}`),
			Headers: ceHeaders("bad-price", eventType)},
	}
	if err := producer.SendMessages(bad); err != nil {
		t.Fatal(err)
	}
	good := &sarama.ProducerMessage{Topic: topic, Key: key, Headers: ceHeaders("good-1", eventType),
		Value: sarama.StringEncoder(`{"username":"poison","userid":"p","price":"5","timestamp":"2024-05-31T15:54:32.204Z"}`)}
	if _, _, err := producer.SendMessage(good); err != nil {
		t.Fatal(err)
	}
	return bad
}

func ceHeaders(id, typ string) []sarama.RecordHeader {
	return []sarama.RecordHeader{
		{Key: []byte("ce_specversion"), Value: []byte("1.0")}, {Key: []byte("ce_id"), Value: []byte(id)},
		{Key: []byte("ce_source"), Value: []byte("/test")}, {Key: []byte("ce_type"), Value: []byte(typ)},
		{Key: []byte("content-type"), Value: []byte("application/json")},
	}
}

// readDeadLetters reads n records from every partition of the dead-letter
// topic and returns their dlq-reason headers in original-offset order.
func readDeadLetters(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	byOffset := map[string]string{}
	forEachRecord(t, brokers, topic, n, func(msg *sarama.ConsumerMessage) {
		headers := map[string]string{}
		for _, h := range msg.Headers {
			headers[string(h.Key)] = string(h.Value)
		}
		byOffset[fmt.Sprintf("%020s", headers["dlq-original-offset"])] = headers["dlq-reason"]
	})
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(byOffset)) {
		reasons = append(reasons, byOffset[k])
	}
	return reasons
}

// forEachRecord reads n records of topic from the oldest, from all its
// partitions (each in offset order), and calls fn on each.
func forEachRecord(t *testing.T, brokers []string, topic string, n int, fn func(*sarama.ConsumerMessage)) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	records, done := make(chan *sarama.ConsumerMessage), make(chan struct{})
	defer close(done)
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for msg := range pc.Messages() {
				select {
				case records <- msg:
				case <-done:
					return
				}
			}
		}()
	}
	timeout := time.After(visibleWithin)
	for got := 0; got < n; got++ {
		select {
		case msg := <-records:
			fn(msg)
		case <-timeout:
			t.Fatalf("%s: got %d records, want %d", topic, got, n)
		}
	}
}

// TestIdempotencyKeyReusedForAnotherPurchaseIs422 follows the IETF
// Idempotency-Key draft on the real stack: once the first purchase is
// stored, a retry with its key is answered as the first was without a new
// event, and the key with a different purchase is 422 and changes nothing.
func TestIdempotencyKeyReusedForAnotherPurchaseIs422(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	key := map[string]string{"Idempotency-Key": "order-reuse-1"}
	first := buyOK(t, shop, `{"username":"reuser","userid":"ru-1","price":"3.00"}`, key)
	waitForPurchases(t, shop, "reuser", first)
	if again := buyOK(t, shop, `{"username":"reuser","userid":"ru-1","price":"3.00"}`, key); again != first {
		t.Errorf("retry after the first was stored: got id %s, want %s", again, first)
	}
	a := send("POST", shop.ServerURL+"/buy", `{"username":"reuser","userid":"ru-1","price":"4.00"}`,
		with(jsonType, "Idempotency-Key", "order-reuse-1"), 10*time.Second)
	if e, bad := a.jsonError(); a.status != http.StatusUnprocessableEntity || bad != "" || e.Errors["Idempotency-Key"] == "" {
		t.Errorf("same key, other purchase: got %d %s, want 422 naming Idempotency-Key", a.status, a.body)
	}
	if sent := metricValue(t, shop.ServerMetrics, `shop_events_sent_total{function="cm-server",result="acked"}`); sent != 1 {
		t.Errorf("events sent: got %v, want 1 (the stored retry and the reuse send nothing)", sent)
	}
	marker := buyOK(t, shop, `{"username":"reuser","userid":"ru-1","price":"0.01"}`, nil)
	waitForPurchases(t, shop, "reuser", first, marker)
}
