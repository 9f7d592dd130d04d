package shopctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// listOptions are dlq list's filters and output choice.
type listOptions struct {
	reason, user string
	since        time.Time
	json         bool
}

func dlqList(ctx context.Context, args []string, lookup env.Lookup, stdout, _ io.Writer) error {
	fs := newFlags("dlq list", stdout)
	var o listOptions
	fs.StringVar(&o.reason, "reason", "", "only dead letters whose reason or status code contains this (any case)")
	fs.StringVar(&o.user, "user", "", "only dead letters of this user id or user name")
	since := fs.String("since", "", "only dead letters set aside since this time: RFC 3339 (2026-12-07T18:00:00Z) or a duration ago (2h)")
	fs.BoolVar(&o.json, "json", false, "one JSON object per line instead of a table")
	timeout := timeoutFlag(fs)
	if helped, err := parseFlags(fs, args); helped || err != nil {
		return err
	}
	now := time.Now()
	if *since != "" {
		var err error
		if o.since, err = parseSince(*since, now); err != nil {
			return usagef("dlq list: -since %q: want an RFC 3339 time or a duration such as 2h", *since)
		}
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
	var letters []deadLetter
	err = readAll(ctx, client, cfg.DLQTopic, func(msg *sarama.ConsumerMessage) {
		if d := parseDeadLetter(ctx, msg); o.match(d) {
			letters = append(letters, d)
		}
	})
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(stdout, letters, now)
	}
	return writeTable(stdout, letters, now)
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}

// match reports whether d passes the filters.
func (o listOptions) match(d deadLetter) bool {
	if o.reason != "" && !strings.Contains(strings.ToLower(d.Reason+" "+d.Code), strings.ToLower(o.reason)) {
		return false
	}
	if o.user != "" && o.user != d.UserID && o.user != d.Username {
		return false
	}
	return o.since.IsZero() || !d.At.Before(o.since)
}

// readAll calls each for every record of topic, partition by partition, from
// the oldest to the high-water mark taken at the start: it never waits for
// records written later.
func readAll(ctx context.Context, client sarama.Client, topic string, each func(*sarama.ConsumerMessage)) error {
	return readFrom(ctx, client, topic, func(int32) (int64, error) { return sarama.OffsetOldest, nil },
		func(msg *sarama.ConsumerMessage) error { each(msg); return nil })
}

// readFrom calls each for every record of topic from the offset start names
// for its partition (sarama.OffsetOldest: the oldest kept) to the
// high-water mark taken when the partition is reached; it stops at the first
// error each returns.
func readFrom(ctx context.Context, client sarama.Client, topic string, start func(int32) (int64, error),
	each func(*sarama.ConsumerMessage) error) error {
	parts, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of topic %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	for _, p := range parts {
		from, err := start(p)
		if err != nil {
			return err
		}
		if err := readPartition(ctx, client, consumer, topic, p, from, each); err != nil {
			return err
		}
	}
	return nil
}

func readPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32, from int64,
	each func(*sarama.ConsumerMessage) error) error {
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
	}
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
	}
	from = max(from, oldest) // OffsetOldest (-2), or what retention already deleted
	if from >= end {
		return nil
	}
	pc, err := consumer.ConsumePartition(topic, p, from)
	if err != nil {
		return fmt.Errorf("read %s/%d: %w", topic, p, err)
	}
	defer pc.AsyncClose()
	for {
		select {
		case msg := <-pc.Messages():
			if err := each(msg); err != nil {
				return err
			}
			if msg.Offset+1 >= end {
				return nil
			}
		case cerr := <-pc.Errors():
			return fmt.Errorf("read %s/%d: %w", topic, p, cerr)
		case <-ctx.Done():
			return fmt.Errorf("read %s/%d up to offset %d: gave up: %w", topic, p, end, ctx.Err())
		}
	}
}
