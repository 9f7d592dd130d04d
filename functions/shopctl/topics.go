package shopctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// topicSpec is what a topic should be. The numbers are the documented ones
// (eventing/topics/kafka-topics.yaml, the chart's kafka values,
// docs/deploy.md): 10 and 3 partitions, replication 3, and
// min.insync.replicas 2 as the documented Strimzi cluster sets.
type topicSpec struct {
	Name        string
	Partitions  int32
	Replication int16
	MinInsync   int
}

// ErrDiffers means an existing topic is not as documented.
var ErrDiffers = errors.New("a topic differs from what the shop documents (see above)")

func topicsEnsure(ctx context.Context, args []string, lookup env.Lookup, stdout, _ io.Writer) error {
	fs := newFlags("topics ensure", stdout)
	partitions := fs.Int("partitions", 10, "partitions of the purchases topic (KAFKA_TOPIC)")
	dlqPartitions := fs.Int("dlq-partitions", 3, "partitions of the dead-letter topic (KAFKA_DLQ_TOPIC)")
	replication := fs.Int("replication-factor", 3, "replicas of each partition (1 for a one-broker dev Kafka)")
	minInsync := fs.Int("min-insync-replicas", 0, "min.insync.replicas of both topics (0: replication factor - 1, at least 1)")
	timeout := timeoutFlag(fs)
	if helped, err := parseFlags(fs, args); helped || err != nil {
		return err
	}
	switch {
	case *partitions < 1 || *partitions > 10000, *dlqPartitions < 1 || *dlqPartitions > 10000:
		return usagef("topics ensure: -partitions and -dlq-partitions must be from 1 to 10000")
	case *replication < 1 || *replication > 32:
		return usagef("topics ensure: -replication-factor must be from 1 to 32")
	case *minInsync < 0 || *minInsync > *replication:
		return usagef("topics ensure: -min-insync-replicas must be from 1 to the replication factor (%d)", *replication)
	}
	if *minInsync == 0 {
		*minInsync = max(1, *replication-1)
	}
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client, err := connect(ctx, cfg.Kafka)
	if err != nil {
		return err
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("cluster admin: %w", err)
	}
	differs := false
	for _, t := range []topicSpec{
		{Name: cfg.Topic, Partitions: int32(*partitions), Replication: int16(*replication), MinInsync: *minInsync},
		{Name: cfg.DLQTopic, Partitions: int32(*dlqPartitions), Replication: int16(*replication), MinInsync: *minInsync},
	} {
		d, err := ensureTopic(ctx, admin, t, stdout)
		if err != nil {
			return err
		}
		differs = differs || d
	}
	if differs {
		return ErrDiffers
	}
	return nil
}

// ensureTopic creates t when missing, or compares it with what exists;
// it reports on stdout and says whether t differs.
func ensureTopic(ctx context.Context, admin sarama.ClusterAdmin, t topicSpec, stdout io.Writer) (bool, error) {
	want := fmt.Sprintf("%d partitions, replication factor %d, min.insync.replicas %d", t.Partitions, t.Replication, t.MinInsync)
	var metas []*sarama.TopicMetadata
	err := within(ctx, func() (err error) { metas, err = admin.DescribeTopics([]string{t.Name}); return err })
	if err != nil {
		return false, fmt.Errorf("describe topic %s: %w", t.Name, err)
	}
	if len(metas) == 1 && errors.Is(metas[0].Err, sarama.ErrUnknownTopicOrPartition) {
		minInsync := strconv.Itoa(t.MinInsync)
		detail := &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: t.Replication,
			ConfigEntries: map[string]*string{"min.insync.replicas": &minInsync}}
		err := within(ctx, func() error { return admin.CreateTopic(t.Name, detail, false) })
		switch {
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			// Made by someone else, or just made and not yet in the
			// metadata the describe read: check it as an existing topic.
			if metas, err = awaitTopic(ctx, admin, t.Name, 1); err != nil {
				return false, err
			}
		case err != nil:
			return false, fmt.Errorf("create topic %s: %w", t.Name, err)
		default:
			if _, err := awaitTopic(ctx, admin, t.Name, int(t.Partitions)); err != nil {
				return false, err
			}
			fmt.Fprintf(stdout, "%s: created (%s)\n", t.Name, want)
			return false, nil
		}
	}
	if len(metas) != 1 || metas[0].Err != sarama.ErrNoError {
		return false, fmt.Errorf("describe topic %s: unexpected answer %v", t.Name, metas)
	}
	got, err := describe(ctx, admin, metas[0])
	if err != nil {
		return false, err
	}
	var diffs []string
	if got.Partitions != t.Partitions {
		diffs = append(diffs, fmt.Sprintf("%d partitions, want %d", got.Partitions, t.Partitions))
	}
	if got.Replication != t.Replication {
		diffs = append(diffs, fmt.Sprintf("replication factor %d, want %d", got.Replication, t.Replication))
	}
	if got.MinInsync != t.MinInsync {
		diffs = append(diffs, fmt.Sprintf("min.insync.replicas %d, want %d", got.MinInsync, t.MinInsync))
	}
	if len(diffs) > 0 {
		fmt.Fprintf(stdout, "%s: DIFFERS: %s\n", t.Name, strings.Join(diffs, "; "))
		return true, nil
	}
	fmt.Fprintf(stdout, "%s: ok (%s)\n", t.Name, want)
	return false, nil
}

// awaitTopic waits until the brokers' metadata shows topic name with at
// least partitions partitions, and returns it: the controller answers
// CreateTopics before the brokers learn of a new topic, and a check run
// right after must see it.
func awaitTopic(ctx context.Context, admin sarama.ClusterAdmin, name string, partitions int) ([]*sarama.TopicMetadata, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var metas []*sarama.TopicMetadata
		err := within(ctx, func() (err error) { metas, err = admin.DescribeTopics([]string{name}); return err })
		if err != nil {
			return nil, fmt.Errorf("topic %s: describe it: %w", name, err)
		}
		if len(metas) == 1 && metas[0].Err == sarama.ErrNoError && len(metas[0].Partitions) >= partitions {
			return metas, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("topic %s: the brokers do not show its %d partitions: %w", name, partitions, ctx.Err())
		}
	}
}

// describe reads an existing topic's partition count, replication factor
// (of its first partition) and effective min.insync.replicas.
func describe(ctx context.Context, admin sarama.ClusterAdmin, m *sarama.TopicMetadata) (topicSpec, error) {
	got := topicSpec{Name: m.Name, Partitions: int32(len(m.Partitions))}
	if len(m.Partitions) > 0 {
		got.Replication = int16(len(m.Partitions[0].Replicas))
	}
	var entries []sarama.ConfigEntry
	err := within(ctx, func() (err error) {
		entries, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name,
			ConfigNames: []string{"min.insync.replicas"}})
		return err
	})
	if err != nil {
		return got, fmt.Errorf("describe configuration of topic %s: %w", m.Name, err)
	}
	for _, e := range entries {
		if e.Name == "min.insync.replicas" {
			got.MinInsync, _ = strconv.Atoi(e.Value)
		}
	}
	return got, nil
}

// within runs a sarama call, which takes no context, giving up when ctx ends.
func within(ctx context.Context, call func() error) error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gave up after the timeout: %w", ctx.Err())
	}
}
