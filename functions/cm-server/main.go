// Command cm-server is the shop's public function. POST /buy turns a purchase
// into a CloudEvent and answers only once Kafka (directly, or through a
// Knative KafkaSink) has acknowledged it; GET /getAllUserBuys/{username} asks
// cm-api for a user's purchases; GET / serves the web UI.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

func main() { os.Exit(server.Main("cm-server", run)) }

// start makes the event sender and the handler. The sender is closed after
// the last request finished, so no acknowledged purchase stays in a buffer.
func (cfg config) start(ctx context.Context, log *slog.Logger) (server.Handlers, server.Stopper, error) {
	snd, err := newSender(ctx, log, cfg)
	if err != nil {
		return server.Handlers{}, nil, err
	}
	api := newAPIClient(cfg.CMAPIURL, cfg.CMAPITimeout).withToken(cfg.CMAPITokenFile, time.Now)
	ready := server.NewReadiness(log, server.Check{Name: "events", Ping: snd.Ping})
	ready.Info = map[string]string{"transport": cfg.transport()}
	m := telemetry.NewMetrics("cm-server")
	h := server.Handlers{API: newServer(log, cfg, snd, api, ready, m), Ops: server.OpsHandler(m.Handler(), ready)}
	return h, func() error {
		if err := snd.Close(); err != nil {
			return fmt.Errorf("close sender: %w", err)
		}
		return nil
	}, nil
}

// run runs cm-server until ctx is done and its requests are drained.
func run(ctx context.Context, _ []string, lookup env.Lookup, stdout io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	return server.Run(ctx, stdout, server.Function{Name: "cm-server", Runtime: cfg.Runtime, Config: cfg.logValue(), Lookup: lookup,
		Start: cfg.start})
}
