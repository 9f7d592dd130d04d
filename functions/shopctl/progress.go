package shopctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/scalable-shop/scalable-shop/functions/internal/retry"
)

// redrive sends dead letters back to the purchases topic. Its progress is
// its consumer group's committed offsets on the dead-letter topic, moved
// past each record right after the record is sent (or passed over), so a
// run that stops goes on, run again, after the last record it finished.
type redrive struct {
	opts                             redriveOptions
	cfg                              config
	client                           sarama.Client
	producer                         sarama.SyncProducer // nil on a dry run
	audit                            *slog.Logger        // one line per chosen dead letter
	limit                            *rate.Limiter
	sent, skipped, passed, wouldSend int
}

// committed is where the group stopped on partition p (OffsetOldest when
// it never committed there). A coordinator that is not ready yet (a new
// cluster's offsets topic still being created or loaded) is asked again
// until ctx ends.
func (r *redrive) committed(ctx context.Context, p int32) (int64, error) {
	var offset int64
	err := retry.Forever(ctx, retry.Dependency, func() error {
		var err error
		offset, err = r.fetchCommitted(p)
		if err != nil && !coordinatorNotReady(err) {
			return backoff.Permanent(err)
		}
		return err
	}, nil)
	return offset, err
}

// fetchCommitted asks the group's coordinator once.
func (r *redrive) fetchCommitted(p int32) (int64, error) {
	coord, err := r.client.Coordinator(r.opts.group)
	if err != nil {
		return 0, fmt.Errorf("coordinator of group %s: %w", r.opts.group, err)
	}
	req := sarama.NewOffsetFetchRequest(r.client.Config().Version, r.opts.group, map[string][]int32{r.cfg.DLQTopic: {p}})
	resp, err := coord.FetchOffset(req)
	if err == nil && resp.Err != sarama.ErrNoError {
		err = resp.Err
	}
	if err != nil {
		if coordinatorNotReady(err) {
			_ = r.client.RefreshCoordinator(r.opts.group)
		}
		return 0, fmt.Errorf("offsets of group %s: %w", r.opts.group, err)
	}
	b := resp.GetBlock(r.cfg.DLQTopic, p)
	switch {
	case b == nil:
		return 0, fmt.Errorf("offsets of group %s: %w (no answer for %s/%d)", r.opts.group, errNoAnswer, r.cfg.DLQTopic, p)
	case b.Err != sarama.ErrNoError:
		return 0, fmt.Errorf("offsets of group %s on %s/%d: %w", r.opts.group, r.cfg.DLQTopic, p, b.Err)
	case b.Offset < 0:
		return sarama.OffsetOldest, nil
	}
	return b.Offset, nil
}

// errNoAnswer is an offset fetch answered without the partition asked for,
// as a coordinator still loading the group's offsets may answer.
var errNoAnswer = errors.New("the coordinator did not answer for the partition")

// coordinatorNotReady reports an error that asking again, a moment later,
// can cure: no coordinator yet, or one still loading or moving.
func coordinatorNotReady(err error) bool {
	return errors.Is(err, errNoAnswer) || errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) ||
		errors.Is(err, sarama.ErrOffsetsLoadInProgress) || errors.Is(err, sarama.ErrNotCoordinatorForConsumer)
}

// commit moves the group past msg and waits for the broker's answer,
// asking again while the coordinator is not ready (until ctx ends).
func (r *redrive) commit(ctx context.Context, msg *sarama.ConsumerMessage) error {
	if r.opts.dryRun {
		return nil
	}
	return retry.Forever(ctx, retry.Dependency, func() error {
		err := r.commitOnce(msg)
		if err != nil && !coordinatorNotReady(err) {
			return backoff.Permanent(err)
		}
		return err
	}, nil)
}

// commitOnce asks the group's coordinator once.
func (r *redrive) commitOnce(msg *sarama.ConsumerMessage) error {
	coord, err := r.client.Coordinator(r.opts.group)
	if err != nil {
		return fmt.Errorf("coordinator of group %s: %w", r.opts.group, err)
	}
	req := sarama.NewOffsetCommitRequest(r.client.Config(), r.opts.group)
	req.AddBlock(msg.Topic, msg.Partition, msg.Offset+1, 0, "shopctl dlq redrive")
	resp, err := coord.CommitOffset(req)
	if err == nil {
		if kerr := resp.Errors[msg.Topic][msg.Partition]; kerr != sarama.ErrNoError {
			err = kerr
		}
	}
	if err != nil {
		if coordinatorNotReady(err) {
			_ = r.client.RefreshCoordinator(r.opts.group)
		}
		return fmt.Errorf("commit group %s past %s/%d/%d: %w", r.opts.group, msg.Topic, msg.Partition, msg.Offset, err)
	}
	return nil
}

// one handles one dead letter: passes it over when not chosen, skips what
// cannot succeed again (unless forced), else sends it, and logs one audit
// line for every chosen record.
func (r *redrive) one(ctx context.Context, msg *sarama.ConsumerMessage) error {
	d := parseDeadLetter(ctx, msg)
	if !r.opts.match(d) || len(r.opts.ids) > 0 && !r.opts.ids[d.PurchaseID] {
		r.passed++
		return r.commit(ctx, msg)
	}
	line := []any{"purchase_id", d.PurchaseID, "user_id", d.UserID, "mode", d.Mode, "dlq_partition", msg.Partition,
		"dlq_offset", msg.Offset, "reason", d.Reason, "dry_run", r.opts.dryRun}
	if why := r.cannotSucceed(d); why != "" && !r.opts.force {
		r.skipped++
		r.audit.Info("redrive", append(line, "action", "skipped", "why", why)...)
		return r.commit(ctx, msg)
	}
	if r.opts.dryRun {
		r.wouldSend++
		r.audit.Info("redrive", append(line, "action", "would_send")...)
		return nil
	}
	if err := r.limit.Wait(ctx); err != nil {
		return err
	}
	part, off, err := r.producer.SendMessage(r.record(msg, d))
	if err != nil {
		return fmt.Errorf("send %s/%d/%d to %s: %w", msg.Topic, msg.Partition, msg.Offset, r.cfg.Topic, err)
	}
	if err := r.commit(ctx, msg); err != nil {
		return err
	}
	r.sent++
	r.audit.Info("redrive", append(line, "action", "sent", "to_partition", part, "to_offset", off)...)
	return nil
}

// cannotSucceed says why sending d again would fail again, or "".
func (r *redrive) cannotSucceed(d deadLetter) string {
	switch {
	case d.Invalid != "":
		return "invalid: " + d.Invalid
	case strings.Contains(d.Reason, conflictReason):
		return "id " + conflictReason
	}
	return ""
}

// record is the dead letter as it was first written: the same key, value
// and CloudEvent headers (so the same id), without what the dead-lettering
// added (dlq-* headers, knativeerror*/knativekafka* extensions).
func (r *redrive) record(msg *sarama.ConsumerMessage, d deadLetter) *sarama.ProducerMessage {
	out := &sarama.ProducerMessage{Topic: r.cfg.Topic}
	for _, h := range msg.Headers {
		k := string(h.Key)
		if strings.HasPrefix(k, "dlq-") || strings.HasPrefix(k, cloudEventHeaderStart+"knativeerror") ||
			strings.HasPrefix(k, cloudEventHeaderStart+"knativekafka") {
			continue
		}
		out.Headers = append(out.Headers, *h)
	}
	switch {
	case msg.Key != nil:
		out.Key = sarama.ByteEncoder(msg.Key)
	case d.UserID != "":
		out.Key = sarama.StringEncoder(d.UserID) // the partition key cm-server uses
	}
	if msg.Value != nil {
		out.Value = sarama.ByteEncoder(msg.Value)
	}
	return out
}

func (r *redrive) summary() string {
	if r.opts.dryRun {
		return fmt.Sprintf("dry run: would send %d, would skip %d, not chosen %d; nothing sent, no offset moved",
			r.wouldSend, r.skipped, r.passed)
	}
	return fmt.Sprintf("sent %d, skipped %d (cannot succeed again; --force sends them), not chosen %d", r.sent, r.skipped, r.passed)
}
