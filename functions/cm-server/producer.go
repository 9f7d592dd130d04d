package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
)

// producer writes each event as a binary-mode record with the SDK's Kafka
// binding (kafka_sarama.WriteProducerMessage: ce_ headers, the
// partitionkey extension as the key, which broker.NewKafkaPartitioner
// places as Kafka's Java producer does) and produces it with sarama's
// AsyncProducer, configured by broker.Config.Producer (acks from all
// in-sync replicas, idempotent). The record carries its completion in
// Metadata; two goroutines read the producer's successes and errors and
// complete each record with the broker's answer. The SDK's Sender would put
// each send through sarama's SyncProducer, which costs a goroutine per send
// here and two more hops per record, and it reports a send into a closed
// client as delivered; this reports it as failed.
type producer struct {
	topic string
	async sarama.AsyncProducer
	loops sync.WaitGroup
}

func newProducer(client sarama.Client, topic string) (*producer, error) {
	a, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("create producer: %w", err)
	}
	p := &producer{topic: topic, async: a}
	p.start()
	return p, nil
}

// start reads the producer's successes and errors until it closes them.
func (p *producer) start() {
	p.loops.Go(func() {
		for m := range p.async.Successes() {
			complete(m, nil)
		}
	})
	p.loops.Go(func() {
		for pe := range p.async.Errors() {
			complete(pe.Msg, pe.Err)
		}
	})
}

// complete calls the completion m carries, if any.
func complete(m *sarama.ProducerMessage, err error) {
	if m == nil {
		return
	}
	if done, ok := m.Metadata.(func(error)); ok {
		done(err)
	}
}

// Send implements eventSender. It hands the record over unless ctx ends
// first (the producer's input is full only when the broker is far behind).
func (p *producer) Send(ctx context.Context, e *event.Event, done func(error)) error {
	pm := &sarama.ProducerMessage{Topic: p.topic, Metadata: done}
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(e), pm); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	select {
	case p.async.Input() <- pm:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes what is buffered, waits until every record handed over was
// completed, and stops. The client stays open: its owner closes it.
func (p *producer) Close() error {
	p.async.AsyncClose()
	p.loops.Wait()
	return nil
}
