package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// loopbackProducer stands in for sarama's AsyncProducer without a broker:
// each record is partitioned and encoded as sarama would before sending it,
// then acknowledged.
type loopbackProducer struct {
	sarama.AsyncProducer
	input     chan *sarama.ProducerMessage
	successes chan *sarama.ProducerMessage
	errors    chan *sarama.ProducerError
}

func newLoopbackProducer() *loopbackProducer {
	p := &loopbackProducer{input: make(chan *sarama.ProducerMessage, 256), successes: make(chan *sarama.ProducerMessage, 256),
		errors: make(chan *sarama.ProducerError)}
	part := broker.NewKafkaPartitioner("purchases")
	go func() {
		defer close(p.successes)
		defer close(p.errors)
		for m := range p.input {
			if _, err := part.Partition(m, 3); err != nil {
				p.errors <- &sarama.ProducerError{Msg: m, Err: err}
				continue
			}
			if _, err := m.Value.Encode(); err != nil {
				p.errors <- &sarama.ProducerError{Msg: m, Err: err}
				continue
			}
			p.successes <- m
		}
	}()
	return p
}

func (p *loopbackProducer) Input() chan<- *sarama.ProducerMessage     { return p.input }
func (p *loopbackProducer) Successes() <-chan *sarama.ProducerMessage { return p.successes }
func (p *loopbackProducer) Errors() <-chan *sarama.ProducerError      { return p.errors }
func (p *loopbackProducer) AsyncClose()                               { close(p.input) }

// BenchmarkBuyKafka is POST /buy through the whole handler and the Kafka
// sender (the record written by the SDK's binding, partitioned, encoded and
// acknowledged by a producer without a broker): the CPU and allocations of
// one purchase in cm-server besides the network and sarama's batching.
func BenchmarkBuyKafka(b *testing.B) {
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	k := &kafkaSender{log: log, topic: "purchases", stop: func() {}, done: make(chan struct{}), slots: make(chan struct{}, maxSends)}
	close(k.done)
	prod := &producer{topic: "purchases", async: newLoopbackProducer()}
	prod.start()
	k.conn.Store(&kafkaConn{client: quietClient{}, sender: prod})
	defer k.Close()
	benchmarkBuy(b, newServer(log, cfg, k, newAPIClient("http://127.0.0.1:1", time.Second), server.NewReadiness(log),
		telemetry.NewMetrics("cm-server")))
}
