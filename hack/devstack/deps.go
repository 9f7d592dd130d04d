package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// deps are the backing services the functions use: embedded ones that
// devstack owns, or external ones it was pointed at.
type deps struct {
	brokers  []string
	mongoURI string
	kafka    *stack.Kafka // nil when external
	mongo    *stack.Mongo // nil when external
	mongoDir string
}

// startDeps starts the embedded Kafka and FerretDB unless cfg points at
// external ones. On error, whatever was started is stopped again.
func startDeps(ctx context.Context, log *slog.Logger, cfg config, out *mux) (*deps, error) {
	d := &deps{brokers: cfg.kafkaBrokers, mongoURI: cfg.mongoURI}
	if len(d.brokers) == 0 {
		k, err := stack.StartKafka(ctx, cfg.kafkaAddr, cfg.topics, stack.WithLogOutput(out.writer("kafka")))
		if err != nil {
			return nil, fmt.Errorf("%w (is something else on %s? set KAFKA_BROKERS to use it)", err, cfg.kafkaAddr)
		}
		d.kafka, d.brokers = k, k.Brokers()
		log.Info("kafka started", "addr", k.Addr(), "topics", topicList(cfg.topics))
	} else {
		log.Info("using external kafka", "brokers", strings.Join(d.brokers, ","))
	}

	if d.mongoURI == "" {
		d.mongoDir = filepath.Join(cfg.dataDir, "ferretdb")
		m, err := stack.StartMongo(ctx, cfg.mongoAddr, d.mongoDir, stack.WithLogOutput(out.writer("ferretdb")))
		if err != nil {
			d.close(log)
			return nil, fmt.Errorf("%w (is something else on %s? set MONGODB_URI to use it)", err, cfg.mongoAddr)
		}
		d.mongo, d.mongoURI = m, m.URI()
		log.Info("ferretdb started", "uri", m.URI(), "data", d.mongoDir)
	} else {
		log.Info("using external mongodb", "uri", redactURI(d.mongoURI))
	}
	return d, nil
}

// close stops the embedded services in the reverse order of their start,
// waiting for FerretDB to close its files.
func (d *deps) close(log *slog.Logger) {
	if d.mongo != nil {
		d.mongo.Close()
		log.Info("ferretdb stopped")
	}
	if d.kafka != nil {
		d.kafka.Close()
		log.Info("kafka stopped")
	}
}

// describeKafka and describeMongo say where the services are, for the banner.
func (d *deps) describeKafka(cfg config) string {
	if d.kafka == nil {
		return strings.Join(d.brokers, ",") + " (external)"
	}
	return d.kafka.Addr() + " (embedded kfake, in memory; topics " + topicList(cfg.topics) + ")"
}

func (d *deps) describeMongo() string {
	if d.mongo == nil {
		return redactURI(d.mongoURI) + " (external)"
	}
	return d.mongoURI + " (embedded FerretDB, data in " + d.mongoDir + ")"
}

// topicList renders topics as "name[partitions]" in name order.
func topicList(topics map[string]int32) string {
	var parts []string
	for name, n := range topics {
		parts = append(parts, fmt.Sprintf("%s[%d]", name, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// redactURI hides the password of a connection string before it is shown.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparsable URI)"
	}
	return u.Redacted()
}
