package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker/brokertest"
)

// TestDeadLetterProducerWaitsForAllReplicasAndIsIdempotent: the dead-letter
// producer the consumer makes (dial) copies a record to the dead-letter
// topic from an idempotent producer (an InitProducerId request first, its id
// in every batch) in produce requests that ask for the ack of all in-sync
// replicas (acks=-1): the record's offset is marked only after that ack.
func TestDeadLetterProducerWaitsForAllReplicasAndIsIdempotent(t *testing.T) {
	t.Parallel()
	w := brokertest.Start(t, "purchases-dlq")
	c := &consumer{kafka: broker.Config{Brokers: []string{w.Addr()}, ClientID: "cm-api"}, topic: "purchases",
		group: "cm-api", dlqTopic: "purchases-dlq"}
	group, dlq, err := c.dial()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	h := newRecordHandler(slog.New(slog.DiscardHandler), nil, dlq, c.dlqTopic, 10*time.Second, 1, testMetrics())
	if err := h.deadLetter(context.Background(), purchaseRecord(t, 0, 7), errors.New("not a purchase"), "dead_lettered"); err != nil {
		t.Fatalf("deadLetter: %v", err)
	}
	if err := errors.Join(dlq.Close(), group.Close(), (*c.client.Load()).Close()); err != nil {
		t.Errorf("close: %v", err)
	}
	w.CheckDurable(t)
}
