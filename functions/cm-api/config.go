package main

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// config is everything cm-api reads from its environment.
type config struct {
	server.Runtime               // PORT, LOG_LEVEL, DRAIN_TIMEOUT, K_SERVICE, K_REVISION
	MongoURI       string        // MONGODB_URI (secret: may hold credentials)
	MongoUser      string        // MONGODB_USERNAME: credentials kept out of the URI
	MongoPassword  string        // MONGODB_PASSWORD (secret)
	MongoAuthDB    string        // MONGODB_AUTH_SOURCE
	Database       string        // MONGODB_DATABASE
	MongoTimeout   time.Duration // MONGODB_TIMEOUT: server selection and one write
	Kafka          broker.Config // KAFKA_BROKERS: empty = HTTP only (Knative mode)
	Topic          string        // KAFKA_TOPIC
	ConsumerGroup  string        // KAFKA_CONSUMER_GROUP
	DLQTopic       string        // KAFKA_DLQ_TOPIC
	BatchSize      int           // BATCH_MAX_SIZE: purchases in one insert command
	BatchDelay     time.Duration // BATCH_MAX_DELAY: longest wait for a batch to fill
	BatchWriters   int           // BATCH_WRITERS: batches written at once
	InFlight       int           // KAFKA_INFLIGHT: records handled at once, all partitions together
	Events         auth.Config   // EVENTS_AUDIENCE, EVENTS_ISSUER_URL or EVENTS_JWKS_URL + EVENTS_ISSUER
	Senders        callers       // EVENTS_ALLOWED_SUBJECTS, and the verifier of Events
	Reads          auth.Config   // READS_AUDIENCE, READS_ISSUER_URL or READS_JWKS_URL + READS_ISSUER
	Readers        callers       // READS_ALLOWED_SUBJECTS, and the verifier of Reads
}

func loadConfig(lookup env.Lookup) (config, error) {
	return loadConfigIn(lookup, serviceAccountDir)
}

// loadConfigIn is loadConfig with the pod's service-account files in saDir.
func loadConfigIn(lookup env.Lookup, saDir string) (config, error) {
	r := env.NewReader(lookup)
	cfg := config{
		Runtime:       server.ReadRuntime(r, "cm-api", server.MetricsPortAPI),
		MongoURI:      r.String("MONGODB_URI", "mongodb://127.0.0.1:27017"),
		MongoUser:     r.String("MONGODB_USERNAME", ""),
		MongoPassword: r.String("MONGODB_PASSWORD", ""),
		MongoAuthDB:   r.String("MONGODB_AUTH_SOURCE", "admin"),
		Database:      r.String("MONGODB_DATABASE", "shop"),
		MongoTimeout:  r.Duration("MONGODB_TIMEOUT", 5*time.Second),
		Topic:         r.String("KAFKA_TOPIC", "purchases"),
		ConsumerGroup: r.String("KAFKA_CONSUMER_GROUP", "cm-api"),
		DLQTopic:      r.String("KAFKA_DLQ_TOPIC", "purchases-dlq"),
		BatchSize:     r.Int("BATCH_MAX_SIZE", 500, 1, 10000),
		BatchDelay:    r.Duration("BATCH_MAX_DELAY", time.Millisecond),
		BatchWriters:  r.Int("BATCH_WRITERS", 2, 1, 64),
		InFlight:      r.Int("KAFKA_INFLIGHT", 1000, 1, 10000),
	}
	cfg.Kafka = broker.FromEnv(r, "", cfg.Service)
	cfg.Events, cfg.Senders = loadCallers(r, "EVENTS", "events only from its KafkaSource", auth.Config{
		Audience: r.String("EVENTS_AUDIENCE", ""), IssuerURL: r.String("EVENTS_ISSUER_URL", ""),
		JWKSURL: r.String("EVENTS_JWKS_URL", ""), Issuer: r.String("EVENTS_ISSUER", ""),
		RefreshInterval: r.Duration("EVENTS_JWKS_REFRESH_INTERVAL", auth.DefaultRefreshInterval),
	}, r.List("EVENTS_ALLOWED_SUBJECTS", ""), saDir)
	cfg.Reads, cfg.Readers = loadCallers(r, "READS", "reads only from cm-server", auth.Config{
		Audience: r.String("READS_AUDIENCE", ""), IssuerURL: r.String("READS_ISSUER_URL", ""),
		JWKSURL: r.String("READS_JWKS_URL", ""), Issuer: r.String("READS_ISSUER", ""),
		RefreshInterval: r.Duration("READS_JWKS_REFRESH_INTERVAL", auth.DefaultRefreshInterval),
	}, r.List("READS_ALLOWED_SUBJECTS", ""), saDir)
	if (cfg.MongoUser == "") != (cfg.MongoPassword == "") {
		r.Fail("MONGODB_USERNAME and MONGODB_PASSWORD go together")
	}
	if cfg.kafkaMode() {
		if err := cfg.Kafka.Validate(); err != nil {
			r.Fail("KAFKA_BROKERS: %v", err)
		}
		if cfg.Topic == cfg.DLQTopic {
			r.Fail("KAFKA_DLQ_TOPIC must differ from KAFKA_TOPIC (%q)", cfg.Topic)
		}
	}
	return cfg, r.Err()
}

// kafkaMode reports whether cm-api consumes the topic itself; otherwise a
// KafkaSource delivers events to POST /.
func (c config) kafkaMode() bool { return len(c.Kafka.Brokers) > 0 }

// mongo is the store part of the configuration.
func (c config) mongo() mongoConfig {
	return mongoConfig{URI: c.MongoURI, Database: c.Database, Username: c.MongoUser,
		Password: c.MongoPassword, AuthSource: c.MongoAuthDB, Timeout: c.MongoTimeout}
}

// logValue is the effective configuration as logged at start-up, with the
// MongoDB credentials redacted; *_jwks_url is where the keys are fetched.
func (c config) logValue() slog.Value {
	mode := "http"
	if c.kafkaMode() {
		mode = "kafka"
	}
	return slog.GroupValue(
		slog.String("port", c.Port), slog.String("log_level", c.LogLevel), slog.String("mode", mode), slog.String("debug_pprof_addr", c.Pprof),
		slog.String("mongodb_uri", env.RedactURL(c.MongoURI)), slog.String("mongodb_username", c.MongoUser),
		slog.String("mongodb_database", c.Database),
		slog.Duration("mongodb_timeout", c.MongoTimeout), slog.Any("kafka", c.Kafka.LogValue()),
		slog.String("kafka_topic", c.Topic), slog.String("kafka_consumer_group", c.ConsumerGroup),
		slog.String("kafka_dlq_topic", c.DLQTopic), slog.Int("kafka_inflight", c.InFlight),
		slog.Int("batch_max_size", c.BatchSize), slog.Duration("batch_max_delay", c.BatchDelay),
		slog.Int("batch_writers", c.BatchWriters),
		slog.String("events_audience", c.Events.Audience), slog.String("events_issuer_url", c.Events.IssuerURL),
		slog.String("events_jwks_url", cmp.Or(c.Events.JWKSURL, c.Events.KeysURL)), slog.Duration("events_jwks_refresh_interval", c.Events.RefreshInterval), slog.Int("events_allowed_subjects", len(c.Senders.Subjects)),
		slog.String("reads_audience", c.Reads.Audience), slog.String("reads_issuer_url", c.Reads.IssuerURL),
		slog.String("reads_jwks_url", cmp.Or(c.Reads.JWKSURL, c.Reads.KeysURL)), slog.Duration("reads_jwks_refresh_interval", c.Reads.RefreshInterval), slog.Int("reads_allowed_subjects", len(c.Readers.Subjects)),
		slog.String("revision", c.Revision),
	)
}
