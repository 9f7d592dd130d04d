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

// kafkaSender produces binary-mode CloudEvents with the SDK's Kafka binding
// (see producer).
// It connects in the background, so start-up never waits for the brokers;
// until it is connected, Send fails fast and readiness says so.
type kafkaSender struct {
	log   *slog.Logger
	topic string

	conn   atomic.Pointer[kafkaConn]
	stop   context.CancelFunc
	done   chan struct{}
	sendWG sync.WaitGroup
	// slots bounds the sends under way, including those whose request
	// already gave up (a 503) while sarama still retries: without it, a
	// long broker outage would pile up one goroutine per request.
	slots chan struct{}
}

// maxSends is how many sends may be under way at once. A send holds its
// slot until sarama gives up (its retries and timeouts bound that), so at
// most this many goroutines outlive their requests.
const maxSends = 512

type kafkaConn struct {
	client sarama.Client
	sender eventSender
}

// eventSender is what Send hands an event to: it starts sending e and
// calls done exactly once with the broker's answer (nil: acknowledged),
// unless it returns an error, when nothing was sent and done is not called.
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
		client, err := dialProducer(cfg)
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

func dialProducer(cfg broker.Config) (sarama.Client, error) {
	sc, err := cfg.Producer()
	if err != nil {
		return nil, err
	}
	return sarama.NewClient(cfg.Brokers, sc)
}

// Send waits for the brokers' acknowledgement or ctx, whichever is first.
// A send abandoned at ctx's deadline may still land (the client is told
// 503, and a retry with its Idempotency-Key is stored once); sarama's own
// retries and timeouts bound it. A send first takes one of maxSends slots,
// waiting no longer than ctx, and gives it back when the broker answered:
// when the broker is down and every slot is held by a send sarama still
// retries, new requests fail at their deadline without starting anything.
// No goroutine is started per send: the producer calls back.
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
