package harness

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// BenchmarkKafkaSourceStandInCeiling measures how fast one KafkaSource
// stand-in, with the data plane's consumer settings (ShippedConsumer: a
// poll at most every 200 ms of at most 50 records), delivers a backlog of
// one partition to a subscriber that answers at once. The real dispatcher's
// ceiling is about 250 events/s per consumer (OrderedConsumerVerticle.java,
// POLLING_MS 200 x max.poll.records 50); a stand-in faster than that would
// hide backlogs the real one builds. Run with -benchtime Nx: N events.
func BenchmarkKafkaSourceStandInCeiling(b *testing.B) {
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
	b.ResetTimer()
	start := time.Now()
	src := StartKafkaSource(b, SourceConfig{Brokers: brokers, Topic: topic, Group: Unique("g"), Sink: sink, Delivery: testDelivery(0)})
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
