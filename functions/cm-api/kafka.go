package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/retry"
)

// consumer reads the purchases topic as a consumer group (Kafka mode). Not
// the SDK's receiver: it marks a later ACKed message past an earlier NACKed
// one, skipping a failed write for good; here a partition waits instead.
type consumer struct {
	log      *slog.Logger
	kafka    broker.Config
	topic    string
	group    string
	dlqTopic string
	saves    *batcher
	timeout  time.Duration // one store write or dead-letter send
	inflight int           // records handled at once, all partitions together
	metrics  *shopMetrics

	client atomic.Pointer[sarama.Client]
}

// Run connects and consumes until ctx is done, then returns once the last
// claimed record was handled and the marked offsets committed.
func (c *consumer) Run(ctx context.Context) error {
	group, dlq, err := c.connect(ctx)
	if err != nil {
		return nil // ctx ended before the brokers answered: nothing to stop
	}
	go func() {
		for err := range group.Errors() {
			c.log.Warn("consumer group error", "err", err)
		}
	}()
	h := newRecordHandler(c.log, c.saves, dlq, c.dlqTopic, c.timeout, c.inflight, c.metrics)
	h.offsetAt = (*c.client.Load()).GetOffset
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{c.topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			c.log.Warn("consume failed, rejoining", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	// A group made from a client leaves the client open: close it too.
	return errors.Join(wrap("close consumer group", group.Close()), wrap("close dead-letter producer", dlq.Close()),
		wrap("close Kafka client", (*c.client.Load()).Close()))
}

// connect makes the group and the dead-letter producer, retrying with backoff.
func (c *consumer) connect(ctx context.Context) (group sarama.ConsumerGroup, dlq sarama.SyncProducer, err error) {
	err = retry.Forever(ctx, retry.Dependency, func() (err error) {
		group, dlq, err = c.dial()
		return err
	}, func(attempt int, err error, _ time.Duration) {
		c.log.Warn("cannot reach Kafka yet, retrying", "attempt", attempt, "err", err)
	})
	if err != nil {
		return nil, nil, err
	}
	c.log.Info("consuming", "brokers", c.kafka.Brokers, "topic", c.topic, "group", c.group, "dlq_topic", c.dlqTopic)
	return group, dlq, nil
}

func (c *consumer) dial() (sarama.ConsumerGroup, sarama.SyncProducer, error) {
	groupConfig, err := c.kafka.ConsumerGroup()
	if err != nil {
		return nil, nil, err
	}
	producerConfig, err := c.kafka.Producer()
	if err != nil {
		return nil, nil, err
	}
	client, err := sarama.NewClient(c.kafka.Brokers, groupConfig)
	if err != nil {
		return nil, nil, fmt.Errorf("connect consumer: %w", err)
	}
	group, err := sarama.NewConsumerGroupFromClient(c.group, client)
	if err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("create consumer group %s: %w", c.group, err)
	}
	dlq, err := sarama.NewSyncProducer(c.kafka.Brokers, producerConfig)
	if err != nil {
		_ = group.Close()
		_ = client.Close()
		return nil, nil, fmt.Errorf("create dead-letter producer: %w", err)
	}
	c.client.Store(&client)
	return group, dlq, nil
}

// Ping asks the brokers for the metadata of the topic and the dead-letter
// topic.
func (c *consumer) Ping(ctx context.Context) error {
	cp := c.client.Load()
	if cp == nil {
		return broker.ErrNotConnected
	}
	return broker.Ping(ctx, *cp, c.topic, c.dlqTopic)
}

// wrap adds what to a non-nil err.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
