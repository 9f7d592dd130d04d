// Package broker configures the sarama clients both functions use for Kafka
// (cm-server's producer, cm-api's consumer group and dead-letter producer).
package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
)

// sarama keeps costly go-metrics of every request; neither function exports
// them, so they are nil metrics.
func init() { metrics.UseNilMetrics = true }

// Config is where the brokers are, who is calling and how it proves it.
type Config struct {
	Brokers       []string
	ClientID      string
	SASLMechanism string // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUsername  string
	SASLPassword  string // secret: never logged
	TLS           bool
	TLSCAFile     string // PEM bundle to trust; empty = the system roots
}

// base is what every client shares: bounded timeouts, so no call hangs a
// request for minutes, and metadata requests that never create a topic
// (with the broker's default partition count, before the real one exists).
func (c Config) base() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = c.ClientID
	sc.Version = sarama.V3_6_0_0
	sc.Net.DialTimeout = 3 * time.Second
	sc.Net.ReadTimeout = 10 * time.Second
	sc.Net.WriteTimeout = 10 * time.Second
	sc.Metadata.Retry.Max = 2
	sc.Metadata.Timeout = 10 * time.Second
	sc.Metadata.AllowAutoTopicCreation = false
	if err := c.secure(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// Producer is the configuration of a durable producer: acknowledged by all
// in-sync replicas, idempotent (the broker drops duplicates of its retries),
// bounded retries, keys partitioned as a KafkaSink does. sarama's defaults
// return errors and give each send a 10-second timeout.
func (c Config) Producer() (*sarama.Config, error) {
	sc, err := c.base()
	if err != nil {
		return nil, err
	}
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1 // required by the idempotent producer
	sc.Producer.Retry.Max = 5
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.Return.Successes = true
	sc.Producer.Flush.Frequency = time.Millisecond // batch concurrent sends, add no latency
	sc.Producer.Partitioner = NewKafkaPartitioner
	return sc, nil
}

// ConsumerGroup is the configuration of a consumer group that first starts
// at the oldest record and commits (by sarama's default, each second) only
// what the handler marked.
func (c Config) ConsumerGroup() (*sarama.Config, error) {
	sc, err := c.base()
	if err != nil {
		return nil, err
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Return.Errors = true
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	return sc, nil
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("no Kafka brokers configured")
	}
	sc, err := c.Producer()
	if err != nil {
		return err
	}
	return sc.Validate()
}

// ErrNotConnected means a client has not reached the brokers yet.
var ErrNotConnected = errors.New("not connected to Kafka yet")

// MissingTopicError means the brokers answer but a topic does not exist
// (the functions never create topics; see docs/deploy.md).
type MissingTopicError struct{ Topic string }

func (e *MissingTopicError) Error() string {
	return "topic " + e.Topic + " does not exist: create it (the functions never create topics)"
}

// Detail is what a readiness answer may show: it names no host.
func (e *MissingTopicError) Detail() string { return "topic " + e.Topic + " does not exist" }

// Ping is the functions' readiness check of Kafka: the metadata of each
// topic, or ErrNotConnected for a nil client, *MissingTopicError for an
// unknown topic. It gives up when ctx ends, though sarama's call goes on.
func Ping(ctx context.Context, client sarama.Client, topics ...string) error {
	if client == nil {
		return ErrNotConnected
	}
	done := make(chan error, 1)
	go func() { done <- client.RefreshMetadata(topics...) }()
	select {
	case err := <-done:
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			for _, topic := range topics {
				if _, perr := client.Partitions(topic); perr != nil {
					return &MissingTopicError{Topic: topic}
				}
			}
		}
		if err != nil {
			return fmt.Errorf("refresh metadata of %v: %w", topics, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("refresh metadata of %v: %w", topics, ctx.Err())
	}
}
