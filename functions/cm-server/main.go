// Command cm-server is the shop's public function. POST /buy turns a purchase
// into a CloudEvent and answers only once Kafka (directly, or through a
// Knative KafkaSink) has acknowledged it; GET /getAllUserBuys/{username} asks
// cm-api for a user's purchases; GET / serves the web UI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
		fmt.Fprintln(os.Stderr, "cm-server:", err)
		os.Exit(1)
	}
}

// run starts cm-server and blocks until ctx is done and the server drained.
func run(ctx context.Context, _ []string, lookup env.Lookup, stdout io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	log, err := logging.New(stdout, cfg.LogLevel, "cm-server")
	if err != nil {
		return err
	}
	ln, err := server.Listen(cfg.Port)
	if err != nil {
		return err
	}
	log.Info("starting", "version", buildinfo.Version, "config", cfg.logValue())
	stopTracing, err := telemetry.StartTracing(ctx, log, lookup, "cm-server")
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	snd, err := newSender(ctx, log, cfg)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	api := newAPIClient(cfg.CMAPIURL, cfg.CMAPITimeout)
	ready := server.NewReadiness(log, server.Check{Name: "events", Ping: snd.Ping})
	ready.Info = map[string]string{"transport": cfg.transport()}
	h := newServer(log, cfg, snd, api, ready, telemetry.NewMetrics("cm-server"))
	serveErr := server.Serve(ctx, log, ln, h, cfg.DrainTimeout)
	// Close the producer only after the last request finished: it flushes,
	// and no acknowledged purchase may still be in a buffer.
	closeErr := snd.Close()
	if closeErr != nil {
		closeErr = fmt.Errorf("close sender: %w", closeErr)
	}
	log.Info("stopped")
	return errors.Join(serveErr, closeErr, stopTracing(context.WithoutCancel(ctx)))
}
