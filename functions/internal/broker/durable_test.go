package broker_test

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker/brokertest"
)

// TestProducerWaitsForAllReplicasAndIsIdempotent sends a record with a
// producer made from Producer() and watches what reaches the broker: the
// producer asks for a producer id first (idempotence), and its produce
// requests ask for acks from all in-sync replicas (acks=-1) and carry the
// granted producer id in every batch. cm-server's producer and cm-api's
// dead-letter producer are checked the same way where they are made.
func TestProducerWaitsForAllReplicasAndIsIdempotent(t *testing.T) {
	t.Parallel()
	w := brokertest.Start(t, "purchases")
	sc, err := broker.Config{Brokers: []string{w.Addr()}, ClientID: "test"}.Producer()
	if err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer([]string{w.Addr()}, sc)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "purchases", Value: sarama.StringEncoder("x")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	w.CheckDurable(t)
}
