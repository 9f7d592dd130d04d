package main

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
)

// kafkaVersion is the protocol version the functions speak.
var kafkaVersion = sarama.V3_6_0_0

// producerConfig is cm-server's producer (functions/internal/broker):
// acknowledged by all in-sync replicas, idempotent, batching concurrent
// sends every millisecond, records keyed by user id.
func producerConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = "loadgen"
	sc.Version = kafkaVersion
	sc.Net.DialTimeout = 3 * time.Second
	sc.Net.ReadTimeout = 10 * time.Second
	sc.Net.WriteTimeout = 10 * time.Second
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 5
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.Timeout = 10 * time.Second
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Frequency = time.Millisecond
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	return sc
}

// createTopics creates fresh topics with 3 partitions and waits until each
// partition has a leader.
func createTopics(ctx context.Context, brokers []string, names ...string) error {
	cfg := sarama.NewConfig()
	cfg.Version = kafkaVersion
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer admin.Close()
	for _, name := range names {
		if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := leadersKnown(client, names)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("topics %v not ready: %w", names, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func leadersKnown(client sarama.Client, names []string) error {
	if err := client.RefreshMetadata(names...); err != nil {
		return err
	}
	for _, n := range names {
		ps, err := client.Partitions(n)
		if err != nil || len(ps) != 3 {
			return fmt.Errorf("topic %s: partitions %v, %v", n, ps, err)
		}
		for _, p := range ps {
			if _, err := client.Leader(n, p); err != nil {
				return fmt.Errorf("topic %s/%d: %w", n, p, err)
			}
		}
	}
	return nil
}

// deleteTopics removes topics a scenario made; failures only cost disk.
func deleteTopics(brokers []string, names ...string) {
	cfg := sarama.NewConfig()
	cfg.Version = kafkaVersion
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return
	}
	defer admin.Close()
	for _, n := range names {
		_ = admin.DeleteTopic(n)
	}
}

// record is p as cm-server produces it: a binary-mode CloudEvent written by
// the SDK's Kafka binding (ce_* headers, content-type, key = partitionkey).
func (p purchase) record(topic string) (*sarama.ProducerMessage, error) {
	e := p.event()
	pm := &sarama.ProducerMessage{Topic: topic}
	if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), pm); err != nil {
		return nil, fmt.Errorf("write record %s: %w", p.ID, err)
	}
	return pm, nil
}

// produceAll writes n purchases to topic in batches, counting them in done.
func produceAll(ctx context.Context, brokers []string, topic string, n int, gen func(i int) purchase, done func(int)) error {
	prod, err := sarama.NewSyncProducer(brokers, producerConfig())
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}
	defer prod.Close()
	const batch = 1000
	for i := 0; i < n && ctx.Err() == nil; i += batch {
		msgs := make([]*sarama.ProducerMessage, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			p := gen(j)
			m, err := p.record(topic)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if err := prod.SendMessages(msgs); err != nil {
			return fmt.Errorf("produce the backlog: %w", err)
		}
		done(len(msgs))
	}
	return ctx.Err()
}
