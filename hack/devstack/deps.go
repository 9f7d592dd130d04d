package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
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
		// An outside broker gets no topics from devstack: cm-api would log
		// "topic does not exist" until they are made. The operator's tool
		// makes them (cmd/shopctl; docs/development.md).
		log.Info("using external kafka: create the topics once if missing, with: "+
			"go run ./cmd/shopctl topics ensure --replication-factor 1",
			"brokers", strings.Join(d.brokers, ","), "topics", topicList(cfg.topics))
	}

	if d.mongoURI == "" {
		if err := d.startMongo(ctx, log, cfg, out); err != nil {
			d.close(log)
			return nil, err
		}
	} else {
		log.Info("using external mongodb", "uri", redactURI(d.mongoURI))
	}
	return d, nil
}

// startMongo starts the embedded FerretDB under dataDir/ferretdb, on
// PostgreSQL unless cfg says SQLite or PostgreSQL does not start, which it
// says in one line, with what that costs.
func (d *deps) startMongo(ctx context.Context, log *slog.Logger, cfg config, out *mux) error {
	d.mongoDir = filepath.Join(cfg.dataDir, "ferretdb")
	if err := openDataDir(cfg.dataDir); err != nil {
		return err
	}
	m, err := stack.StartMongo(ctx, cfg.mongoAddr, d.mongoDir,
		stack.WithLogOutput(out.writer("ferretdb")), stack.WithBackend(cfg.storeBackend))
	if err != nil {
		return fmt.Errorf("%w (is something else on %s? set MONGODB_URI to use it)", err, cfg.mongoAddr)
	}
	d.mongo, d.mongoURI = m, m.URI()
	if why := m.Fallback(); why != nil {
		log.Warn("the dev store runs on SQLite, not PostgreSQL: every query reads the whole collection, "+
			"so purchase lists and duplicate checks slow down as purchases pile up (docs/development.md#the-dev-store)",
			"why", why.Error())
	}
	log.Info("ferretdb started", "uri", m.URI(), "backend", m.Backend(), "data", d.mongoDir)
	if m.Backend() == stack.BackendPostgreSQL && hasSQLiteData(d.mongoDir) {
		log.Info("purchases an earlier make run kept on SQLite stay in " + d.mongoDir +
			" and are not shown; make clean-store removes them")
	}
	return nil
}

// openDataDir creates dir, searchable by others: as root, PostgreSQL runs
// as the postgres user, which must pass through it to its cluster.
func openDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("open %s to the postgres user: %w", dir, err)
	}
	return nil
}

// hasSQLiteData says whether FerretDB's SQLite backend left databases in dir.
func hasSQLiteData(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	return len(files) > 0
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
	if pg := d.mongo.PostgreSQLURL(); pg != "" {
		return fmt.Sprintf("%s (embedded FerretDB on PostgreSQL %s, data in %s)", d.mongoURI, pg, d.mongoDir)
	}
	return fmt.Sprintf("%s (embedded FerretDB on SQLite, data in %s)", d.mongoURI, d.mongoDir)
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
