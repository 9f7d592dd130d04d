// Command cm-api is the shop's cluster-internal function. It stores purchase
// CloudEvents in MongoDB exactly once per purchase id, whether a KafkaSource
// POSTs them (Knative mode) or it consumes the topic itself (Kafka mode), and
// answers GET /buyList/{username}.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/retry"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

func main() { os.Exit(server.Main("cm-api", run)) }

// run runs cm-api until ctx is done, its requests are drained, the consumer
// has committed what it stored, and MongoDB is disconnected.
func run(ctx context.Context, _ []string, lookup env.Lookup, stdout io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	return server.Run(ctx, stdout, server.Function{Name: "cm-api", Runtime: cfg.Runtime, Config: cfg.logValue(), Lookup: lookup,
		Start: cfg.start})
}

// start opens the store and creates its indexes in the background, and in
// Kafka mode starts the consumer; writes from both paths share one group
// commit. Once ctx ends (after the drain), stopping waits for the consumer
// to commit what it stored, writes what is batched and disconnects.
func (cfg config) start(ctx context.Context, log *slog.Logger) (server.Handlers, server.Stopper, error) {
	st, err := openMongo(cfg.mongo())
	if err != nil {
		return server.Handlers{}, nil, err
	}
	var indexed atomic.Bool
	go ensureIndexes(ctx, log, st, &indexed)
	metrics := newShopMetrics(telemetry.NewMetrics("cm-api"))
	gate := newStoreGate(ctx, log, metrics.pingStore(st.Ping))
	checks := []server.Check{{Name: "mongodb", Ping: gate.Ping}, {Name: "indexes", Ping: func(context.Context) error {
		if !indexed.Load() {
			return errors.New("indexes not created yet")
		}
		return nil
	}}}
	// The readiness Knative probes starts a ping of the store (for
	// shop_store_up and the gate) but neither waits for it nor fails on it,
	// so a store outage leaves cm-api in service answering a fast 503; the
	// metrics port's /readyz reports the store.
	probed := []server.Check{{Name: "mongodb", Ping: func(context.Context) error { gate.Refresh(); return nil }}}
	batch := newBatcher(st, metrics, cfg.BatchSize, cfg.BatchDelay, cfg.MongoTimeout, cfg.BatchWriters)
	var wg sync.WaitGroup
	var consumeErr error
	if cfg.kafkaMode() {
		c := &consumer{log: log, kafka: cfg.Kafka, topic: cfg.Topic, group: cfg.ConsumerGroup,
			dlqTopic: cfg.DLQTopic, saves: batch, timeout: cfg.MongoTimeout, inflight: cfg.InFlight, metrics: metrics}
		checks = append(checks, server.Check{Name: "kafka", Ping: c.Ping})
		probed = append(probed, server.Check{Name: "kafka", Ping: c.Ping})
		wg.Go(func() { consumeErr = c.Run(ctx) })
	}
	stop := func() error {
		wg.Wait()
		batch.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(consumeErr, st.Close(dctx))
	}
	ready := server.NewReadiness(log, checks...)
	h := server.Handlers{API: newServer(log, cfg, st, batch, gate, server.NewReadiness(log, probed...), metrics),
		Ops: server.OpsHandler(metrics.Handler(), ready)}
	return h, stop, nil
}

// ensureIndexes creates the store's indexes, retrying until it works: the
// store may start after cm-api. Readiness waits for it.
func ensureIndexes(ctx context.Context, log *slog.Logger, st *mongoStore, done *atomic.Bool) {
	err := retry.Forever(ctx, retry.Dependency, func() error { return st.EnsureIndexes(ctx) },
		func(attempt int, err error, _ time.Duration) {
			log.Warn("cannot create indexes yet, retrying", "attempt", attempt, "err", err)
		})
	done.Store(err == nil)
}
