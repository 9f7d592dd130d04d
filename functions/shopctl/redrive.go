package shopctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/time/rate"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// redriveOptions are dlq redrive's choices.
type redriveOptions struct {
	listOptions
	ids    map[string]bool // only these purchase ids; empty: all
	group  string
	rate   float64
	dryRun bool
	force  bool
}

// conflictReason is how both modes say an id is used by another purchase
// (cm-api's errConflict, functions/cm-api/store.go): sending it again
// cannot succeed.
const conflictReason = "already used by a different purchase"

// errInterrupted means the redrive stopped before the end; its group's
// offsets keep what was done.
var errInterrupted = errors.New("redrive interrupted: run the same command again to go on where it stopped")

func dlqRedrive(ctx context.Context, args []string, lookup env.Lookup, stdout, stderr io.Writer) error {
	fs := newFlags("dlq redrive", stdout)
	o := redriveOptions{ids: map[string]bool{}}
	fs.StringVar(&o.reason, "reason", "", "only dead letters whose reason or status code contains this (any case)")
	fs.StringVar(&o.user, "user", "", "only dead letters of this user id or user name")
	since := fs.String("since", "", "only dead letters set aside since this time (RFC 3339) or this long ago (2h)")
	fs.Func("id", "only this purchase id (repeat, or comma-separated)", func(s string) error {
		for _, id := range strings.Split(s, ",") {
			if id = strings.TrimSpace(id); id != "" {
				o.ids[id] = true
			}
		}
		return nil
	})
	fs.StringVar(&o.group, "group", "shopctl-redrive", "consumer group whose offsets on the dead-letter topic are this redrive's progress")
	fs.Float64Var(&o.rate, "rate", 10, "at most this many events sent per second")
	fs.BoolVar(&o.dryRun, "dry-run", false, "say what would be sent or skipped; send nothing, move no offset")
	fs.BoolVar(&o.force, "force", false, "send also what cannot succeed again (invalid, id used by another purchase)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long (reaching the brokers included)")
	if helped, err := parseFlags(fs, args); helped || err != nil {
		return err
	}
	if err := o.check(*since, time.Now()); err != nil {
		return err
	}
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client, err := connectDurable(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	r := &redrive{opts: o, cfg: cfg, client: client, audit: slog.New(slog.NewJSONHandler(stderr, nil)),
		limit: rate.NewLimiter(rate.Limit(o.rate), 1)}
	if !o.dryRun {
		if r.producer, err = sarama.NewSyncProducerFromClient(client); err != nil {
			return fmt.Errorf("producer: %w", err)
		}
		defer r.producer.Close()
	}
	committed := func(p int32) (int64, error) { return r.committed(ctx, p) }
	err = readFrom(ctx, client, cfg.DLQTopic, committed, func(msg *sarama.ConsumerMessage) error { return r.one(ctx, msg) })
	fmt.Fprintf(stdout, "redrive of %s to %s: %s\n", cfg.DLQTopic, cfg.Topic, r.summary())
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", errInterrupted, ctx.Err())
	}
	return err
}

func (o *redriveOptions) check(since string, now time.Time) error {
	if since != "" {
		var err error
		if o.since, err = parseSince(since, now); err != nil {
			return usagef("dlq redrive: -since %q: want an RFC 3339 time or a duration such as 2h", since)
		}
	}
	if o.rate <= 0 || o.rate > 10000 {
		return usagef("dlq redrive: -rate must be above 0 and at most 10000 per second")
	}
	if strings.TrimSpace(o.group) == "" {
		return usagef("dlq redrive: -group must not be empty")
	}
	return nil
}

// connectDurable is connect with the functions' durable producer settings:
// acks from all in-sync replicas, idempotent.
func connectDurable(ctx context.Context, cfg config) (sarama.Client, error) {
	return connectWith(ctx, cfg.Kafka, true)
}
