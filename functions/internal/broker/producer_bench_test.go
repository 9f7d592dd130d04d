package broker_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
)

// BenchmarkProducerCPU is the floor the Kafka client alone puts under
// cm-server's CPU per purchase. "sarama" is cm-server's producer: sarama's
// AsyncProducer configured by Config.Producer (acks from all in-sync
// replicas, idempotent, one request in flight, the Java producer's
// partitioner, 1 ms flushes). "franz-go" is franz-go's client with the same
// guarantees (its defaults: idempotent, the Java producer's partitioner;
// acks from all in-sync replicas and 1 ms linger set), for comparison only:
// the brief fixes sarama. Records are shaped like cm-server's (eight ce_
// headers, a purchase as the value, the user as the key), 32 of them in
// flight as `make bench`'s CPU scenario keeps 32 /buy requests in flight,
// each sender waiting for its record's ack before the next, on the real
// broker in KAFKA_BROKERS (hack/bench.sh runs it). It reports the process's
// CPU time per acknowledged record (cpu-µs/record): the client's goroutine
// hops, request encoding and socket I/O, nothing of HTTP or of the event.
func BenchmarkProducerCPU(b *testing.B) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		b.Skip("needs a Kafka broker: KAFKA_BROKERS (hack/bench.sh starts one)")
	}
	cfg := broker.Config{Brokers: strings.Split(brokers, ","), ClientID: "bench"}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sarama.NewConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	newTopic := func(b *testing.B) string {
		topic := fmt.Sprintf("bench-producer-%d", time.Now().UnixNano())
		if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = admin.DeleteTopic(topic) })
		return topic
	}
	b.Run("sarama", func(b *testing.B) {
		topic := newTopic(b)
		sc, err := cfg.Producer()
		if err != nil {
			b.Fatal(err)
		}
		p, err := sarama.NewAsyncProducer(cfg.Brokers, sc)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for m := range p.Successes() {
				m.Metadata.(chan error) <- nil
			}
		}()
		go func() {
			for pe := range p.Errors() {
				pe.Msg.Metadata.(chan error) <- pe.Err
			}
		}()
		defer func() { _ = p.Close() }()
		closedLoop(b, func(done chan error, i int) error {
			user := fmt.Sprintf("user-%d", i%1000)
			h := make([]sarama.RecordHeader, 0, 8)
			for _, kv := range recordHeaders(user) {
				h = append(h, sarama.RecordHeader{Key: []byte(kv[0]), Value: []byte(kv[1])})
			}
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(user), Metadata: done,
				Value: sarama.ByteEncoder(purchaseJSON(user)), Headers: h}
			return <-done
		})
	})
	b.Run("franz-go", func(b *testing.B) {
		topic := newTopic(b)
		cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		closedLoop(b, func(done chan error, i int) error {
			user := fmt.Sprintf("user-%d", i%1000)
			h := make([]kgo.RecordHeader, 0, 8)
			for _, kv := range recordHeaders(user) {
				h = append(h, kgo.RecordHeader{Key: kv[0], Value: []byte(kv[1])})
			}
			cl.Produce(context.Background(), &kgo.Record{Key: []byte(user), Value: purchaseJSON(user), Headers: h},
				func(_ *kgo.Record, err error) { done <- err })
			return <-done
		})
	})
}

// closedLoop sends b.N records, 32 at a time, each sender waiting for its
// ack, and reports the process's CPU time per record. The first send (the
// metadata and the producer id) is not counted.
func closedLoop(b *testing.B, send func(done chan error, i int) error) {
	if err := send(make(chan error, 1), 0); err != nil {
		b.Fatal(err)
	}
	const inFlight = 32
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, inFlight)
	start := processCPU(b)
	b.ResetTimer()
	for range inFlight {
		wg.Go(func() {
			done := make(chan error, 1)
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := send(done, int(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((processCPU(b)-start).Microseconds())/float64(b.N), "cpu-µs/record")
}

// recordHeaders are a binary-mode purchase event's Kafka headers.
func recordHeaders(user string) [][2]string {
	return [][2]string{{"ce_specversion", "1.0"}, {"ce_id", "0193b0e6-7e1a-7b3c-9f00-0123456789ab"},
		{"ce_source", "/scalable-shop/cm-server"}, {"ce_type", "io.scalableshop.purchase.created.v1"},
		{"ce_subject", user}, {"ce_time", "2026-11-30T17:00:00Z"}, {"content-type", "application/json"},
		{"ce_partitionkey", user}}
}

func purchaseJSON(user string) []byte {
	return []byte(`{"username":"` + user + `","userid":"` + user + `","price":"12.50","timestamp":"2026-11-30T17:00:00.000Z"}`)
}

// processCPU is this process's user and system time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
