package broker_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
)

// BenchmarkProducerCPU is the floor the Kafka client alone puts under
// cm-server's CPU per purchase: sarama's AsyncProducer configured by
// Config.Producer (acks from all in-sync replicas, idempotent, one request
// in flight, the Java producer's partitioner), with records shaped like
// cm-server's (eight ce_ headers, a purchase as the value, the user as the
// key), 32 of them in flight as `make bench`'s CPU scenario keeps 32 /buy
// requests in flight, each sender waiting for its record's ack before the
// next, on the real broker in KAFKA_BROKERS (hack/bench.sh runs it). It
// reports the process's CPU time per acknowledged record (cpu-µs/record):
// sarama's goroutine hops, request encoding and socket I/O, nothing of
// HTTP or of the event.
func BenchmarkProducerCPU(b *testing.B) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		b.Skip("needs a Kafka broker: KAFKA_BROKERS (hack/bench.sh starts one)")
	}
	cfg := broker.Config{Brokers: strings.Split(brokers, ","), ClientID: "bench"}
	topic := fmt.Sprintf("bench-producer-%d", time.Now().UnixNano())
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sarama.NewConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = admin.DeleteTopic(topic) }()
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
	send := func(done chan error, i int) error {
		user := fmt.Sprintf("user-%d", i%1000)
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(user), Metadata: done,
			Value:   sarama.ByteEncoder(`{"username":"` + user + `","userid":"` + user + `","price":"12.50","timestamp":"2026-11-30T17:00:00.000Z"}`),
			Headers: recordHeaders(user)}
		return <-done
	}
	if err := send(make(chan error, 1), 0); err != nil { // metadata, producer id
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
func recordHeaders(user string) []sarama.RecordHeader {
	h := func(k, v string) sarama.RecordHeader { return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	return []sarama.RecordHeader{h("ce_specversion", "1.0"), h("ce_id", "0193b0e6-7e1a-7b3c-9f00-0123456789ab"),
		h("ce_source", "/scalable-shop/cm-server"), h("ce_type", "io.scalableshop.purchase.created.v1"),
		h("ce_subject", user), h("ce_time", "2026-11-30T17:00:00Z"), h("content-type", "application/json"),
		h("ce_partitionkey", user)}
}

// processCPU is this process's user and system time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
