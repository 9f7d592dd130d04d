// Package stack starts the shop's backing services inside the current
// process: an embedded Kafka (kfake) and an embedded MongoDB-compatible
// server (FerretDB, on PostgreSQL when installed, else SQLite). The dev
// stack behind `make run` and the integration tests use it, so neither needs
// Docker.
//
// Addresses with an empty or unspecified host (":0", "0.0.0.0:9092") are
// bound to 127.0.0.1: these services have no authentication and must not be
// reachable from the network. Port 0 picks a free port.
package stack

import (
	"fmt"
	"io"
	"log/slog"
	"net"
)

// Option configures StartKafka and StartMongo.
type Option func(*config)

type config struct {
	logOutput io.Writer
	dataDir   string
	backend   Backend // StartMongo's
}

// WithLogOutput sends the service's warnings and errors, as slog JSON lines,
// to w. Without it they are discarded.
func WithLogOutput(w io.Writer) Option {
	return func(o *config) { o.logOutput = w }
}

// WithDataDir makes StartKafka keep topics, records and committed offsets in
// dir, so that a restart on the same addr and dir finds them again, as after
// a real broker restart. Without it Kafka's data lives in memory only.
// StartMongo takes its directory as an argument and ignores this option.
func WithDataDir(dir string) Option {
	return func(o *config) { o.dataDir = dir }
}

func applyOptions(opts []Option) config {
	o := config{logOutput: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// logger returns a warn-level JSON logger writing to the configured output,
// tagged with the service name so merged streams stay attributable.
func (o config) logger(service string) *slog.Logger {
	h := slog.NewJSONHandler(o.logOutput, &slog.HandlerOptions{Level: slog.LevelWarn})
	return slog.New(h).With("service", service)
}

// loopbackAddr returns addr with an empty or unspecified host replaced by
// 127.0.0.1, and checks that it has a port.
func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("parse listen address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
