package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker/brokertest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// TestKafkaSenderWaitsForAllReplicasAndIsIdempotent is "Ok! means durable in
// Kafka" on the wire: a purchase sent by the Kafka sender as run makes it
// reaches the broker from an idempotent producer (an InitProducerId request
// first, its id in every batch) in produce requests that ask for the ack of
// all in-sync replicas (acks=-1), and Send returns only after that ack.
func TestKafkaSenderWaitsForAllReplicasAndIsIdempotent(t *testing.T) {
	t.Parallel()
	w := brokertest.Start(t, "purchases")
	k := newKafkaSender(context.Background(), slog.New(slog.DiscardHandler),
		broker.Config{Brokers: []string{w.Addr()}, ClientID: "cm-server"}, "purchases")
	<-k.done // connected
	p := purchase.Purchase{ID: "p-1", Username: "joe", UserID: "1", Price: 100, Timestamp: time.Unix(1, 0).UTC()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.Send(ctx, purchase.NewEvent(p, "/scalable-shop/cm-server")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := k.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	w.CheckDurable(t)
}
