package harness

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// BenchmarkKafkaSourceStandInCeiling measures how fast one KafkaSource
// stand-in, with the data plane's consumer settings (ShippedConsumer),
// delivers a backlog of one partition to a subscriber that answers at once,
// for each spec.ordering. Ordered, the real dispatcher's ceiling is about
// 250 events/s per consumer (OrderedConsumerVerticle.java, POLLING_MS 200 x
// max.poll.records 50); unordered (as shipped) it polls again as soon as
// fewer than 50 are in flight (UnorderedConsumerVerticle.java), and what
// bounds it then is the dispatcher's own CPU per event, which the stand-in
// does not model: unordered, it drains a backlog several times faster than
// the real one (TestDataPlaneThroughput measures that), so no test may
// rely on how fast a backlog drains. Run with -benchtime Nx: N events.
func BenchmarkKafkaSourceStandInCeiling(b *testing.B) {
	for _, ordered := range []bool{true, false} {
		name := "unordered"
		if ordered {
			name = "ordered"
		}
		b.Run(name, func(b *testing.B) { benchmarkCeiling(b, ordered) })
	}
}

func benchmarkCeiling(b *testing.B, ordered bool) {
	brokers := Integration(b)
	topic := Unique("bench-ceiling")
	CreateTopics(b, brokers, 1, topic)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*sarama.ProducerMessage, b.N)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(`{"n":1}`),
			Headers: []sarama.RecordHeader{{Key: []byte("ce_specversion"), Value: []byte("1.0")},
				{Key: []byte("ce_id"), Value: []byte(fmt.Sprint(i))}, {Key: []byte("ce_source"), Value: []byte("/bench")},
				{Key: []byte("ce_type"), Value: []byte("bench.v1")}}}
	}
	if err := p.SendMessages(msgs); err != nil {
		b.Fatal(err)
	}
	p.Close()
	sink := instantSubscriber(b)
	d := testDelivery(0)
	d.Ordered = ordered
	b.ResetTimer()
	start := time.Now()
	src := StartKafkaSource(b, SourceConfig{Brokers: brokers, Topic: topic, Group: Unique("g"), Sink: sink, Delivery: d})
	for src.Delivered.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
}

// instantSubscriber is a subscriber that answers 200 at once.
func instantSubscriber(b *testing.B) string {
	return httptestServer(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
}
