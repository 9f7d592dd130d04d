// Command cm-api is the shop's cluster-internal function. It stores purchase
// CloudEvents in MongoDB exactly once per purchase id, whether a KafkaSource
// POSTs them (Knative mode) or it consumes the topic itself (Kafka mode), and
// answers GET /buyList/{username}.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/logging"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.LookupEnv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cm-api:", err)
		os.Exit(1)
	}
}

// run starts cm-api and blocks until ctx is done, requests are drained, the
// consumer has committed what it stored, and MongoDB is disconnected.
func run(ctx context.Context, _ []string, lookup env.Lookup, stdout io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	log, err := logging.New(stdout, cfg.LogLevel, "cm-api")
	if err != nil {
		return err
	}
	ln, err := server.Listen(cfg.Port)
	if err != nil {
		return err
	}
	log.Info("starting", "version", buildinfo.Version, "config", cfg.logValue())
	stopTracing, err := telemetry.StartTracing(ctx, log, lookup, "cm-api")
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	st, err := openMongo(cfg.mongo())
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var indexed atomic.Bool
	go ensureIndexes(ctx, log, st, &indexed)
	checks := []server.Check{{Name: "mongodb", Ping: st.Ping}, {Name: "indexes", Ping: func(context.Context) error {
		if !indexed.Load() {
			return errors.New("indexes not created yet")
		}
		return nil
	}}}
	// Writes from both paths share one group commit.
	metrics := newShopMetrics(telemetry.NewMetrics("cm-api"))
	batch := newBatcher(st, metrics, cfg.BatchSize, cfg.BatchDelay, cfg.MongoTimeout, cfg.BatchWriters)
	var wg sync.WaitGroup
	var consumeErr error
	if cfg.kafkaMode() {
		c := &consumer{log: log, kafka: cfg.Kafka, topic: cfg.Topic, group: cfg.ConsumerGroup,
			dlqTopic: cfg.DLQTopic, store: batch, timeout: cfg.MongoTimeout, inflight: cfg.InFlight, metrics: metrics}
		checks = append(checks, server.Check{Name: "kafka", Ping: c.Ping})
		wg.Go(func() { consumeErr = c.Run(ctx) })
	}
	ready := server.NewReadiness(log, checks...)
	serveErr := server.Serve(ctx, log, ln, newServer(log, cfg, batch, ready, metrics), cfg.DrainTimeout)
	cancel()
	wg.Wait()
	batch.Close()
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	closeErr := st.Close(dctx)
	log.Info("stopped")
	return errors.Join(serveErr, consumeErr, closeErr, stopTracing(context.WithoutCancel(ctx)))
}

// ensureIndexes creates the store's indexes, retrying until it works: the
// store may start after cm-api. Readiness waits for it.
func ensureIndexes(ctx context.Context, log *slog.Logger, st *mongoStore, done *atomic.Bool) {
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := st.EnsureIndexes(ctx)
		if err == nil {
			done.Store(true)
			return
		}
		log.Warn("cannot create indexes yet, retrying", "err", err)
		if !sleep(ctx, backoff) {
			return
		}
	}
}
