package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/retry"
)

// maxSends is how many sends may be under way at once, including those
// whose request already gave up while sarama still retries: without the
// bound, a long broker outage would pile up one goroutine per request.
const maxSends = 512

// kafkaSender produces binary-mode CloudEvents to Kafka. It connects in
// the background, so start-up never waits for the brokers; until it is
// connected, Send fails fast and readiness says so.
type kafkaSender struct {
	log   *slog.Logger
	topic string

	conn   atomic.Pointer[kafkaConn]
	stop   context.CancelFunc
	done   chan struct{}
	sendWG sync.WaitGroup
	slots  chan struct{} // one per send under way, up to maxSends
}

type kafkaConn struct {
	client sarama.Client
	sender eventSender
}

// eventSender starts sending e and calls done exactly once with the
// broker's answer (nil: acknowledged), unless it returns an error, when
// nothing was sent and done is not called.
type eventSender interface {
	Send(ctx context.Context, e *event.Event, done func(error)) error
	Close() error
}

func newKafkaSender(ctx context.Context, log *slog.Logger, cfg broker.Config, topic string) *kafkaSender {
	ctx, stop := context.WithCancel(ctx)
	k := &kafkaSender{log: log, topic: topic, stop: stop, done: make(chan struct{}), slots: make(chan struct{}, maxSends)}
	go k.connect(ctx, cfg)
	return k
}

// connect retries with backoff until the brokers answer or ctx is done.
func (k *kafkaSender) connect(ctx context.Context, cfg broker.Config) {
	defer close(k.done)
	err := retry.Forever(ctx, retry.Dependency, func() error {
		sc, err := cfg.Producer()
		if err != nil {
			return err
		}
		client, err := sarama.NewClient(cfg.Brokers, sc)
		if err != nil {
			return err
		}
		s, err := newProducer(client, k.topic)
		if err != nil {
			return errors.Join(err, client.Close())
		}
		k.conn.Store(&kafkaConn{client: client, sender: s})
		return nil
	}, func(attempt int, err error, _ time.Duration) {
		k.log.Warn("cannot reach Kafka yet, retrying", "attempt", attempt, "err", err)
	})
	if err == nil {
		k.log.Info("connected to Kafka", "brokers", cfg.Brokers, "topic", k.topic)
	}
}

// Send waits for the brokers' acknowledgement or ctx, whichever is first.
// A send abandoned at ctx's deadline may still land (the client is told
// 503, and a retry with its Idempotency-Key is stored once). A send holds
// one of maxSends slots until the broker answers, so while the broker is
// down new requests fail at their deadline without starting anything.
func (k *kafkaSender) Send(ctx context.Context, e event.Event) error {
	c := k.conn.Load()
	if c == nil {
		return fmt.Errorf("send event %s: %w: %w", e.ID(), errNotDelivered, broker.ErrNotConnected)
	}
	select {
	case k.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("send event %s: %w: all %d sends under way: %w", e.ID(), errNotDelivered, maxSends, ctx.Err())
	}
	result := make(chan error, 1)
	k.sendWG.Add(1)
	done := func(err error) {
		result <- err
		<-k.slots
		k.sendWG.Done()
	}
	if err := c.sender.Send(ctx, &e, done); err != nil {
		done(err)
	}
	select {
	case err := <-result:
		if err != nil {
			return fmt.Errorf("send event %s: %w: %w", e.ID(), errNotDelivered, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("send event %s: %w: %w", e.ID(), errNotDelivered, ctx.Err())
	}
}

// Ping asks the brokers for the topic's metadata.
func (k *kafkaSender) Ping(ctx context.Context) error {
	c := k.conn.Load()
	if c == nil {
		return broker.ErrNotConnected
	}
	return broker.Ping(ctx, c.client, k.topic)
}

// Close stops connecting, waits for sends still under way, then flushes and
// closes the producer and its client.
func (k *kafkaSender) Close() error {
	k.stop()
	<-k.done
	k.sendWG.Wait()
	c := k.conn.Load()
	if c == nil {
		return nil
	}
	return errors.Join(c.sender.Close(), c.client.Close())
}

// producer writes each event as a binary-mode record with the SDK's Kafka
// binding (the partitionkey extension as the record key) and produces it
// with sarama's AsyncProducer, configured by broker.Config.Producer. The
// record carries its completion in Metadata, called with the broker's
// answer. The SDK's own Sender would cost a goroutine per send, and it
// reports a send into a closed client as delivered.
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

// start completes each record as the producer reports it sent or failed.
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

// Send hands the record over unless ctx ends first (the producer's input
// is full only when the broker is far behind).
func (p *producer) Send(ctx context.Context, e *event.Event, done func(error)) error {
	pm := &sarama.ProducerMessage{Topic: p.topic, Metadata: done}
	if err := writeRecord(ctx, e, pm); err != nil {
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
