package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// config is everything devstack needs to know; defaultConfig fills it from
// the environment and tests build their own.
type config struct {
	// kafkaBrokers and mongoURI, when set, point at services that are
	// already running; otherwise embedded ones are started on kafkaAddr and
	// mongoAddr.
	kafkaBrokers []string
	mongoURI     string
	kafkaAddr    string
	mongoAddr    string
	topics       map[string]int32
	storeBackend stack.Backend // the embedded FerretDB's

	dataDir   string // FerretDB data and built binaries live under it
	functions []function
	env       []string // KEY=value passed to every function

	logLevel        slog.Level
	healthTimeout   time.Duration // how long functions get to answer /healthz
	shutdownTimeout time.Duration // how long a function gets after SIGTERM
}

// function is one of the shop's functions, built and run as a child process.
type function struct {
	name string
	dir  string // directory `go build` runs in; empty means the current one
	pkg  string // package to build, relative to dir
	port int
	// metricsPort is the function's METRICS_PORT (/metrics and the
	// detailed /readyz); 0 leaves it unset.
	metricsPort int
	// env returns the variables specific to this function, given the
	// running backing services.
	env func(d *deps) []string
}

// The functions' ports under `make run`, and their metrics ports (the
// functions' own defaults, set explicitly so the banner can say them).
const (
	serverPort        = 8080
	apiPort           = 8081
	serverMetricsPort = 9464
	apiMetricsPort    = 9465
)

// passthroughEnv lists the variables handed from devstack's environment to
// the functions; everything else they need is set explicitly, so a stray
// variable in the developer's shell cannot change what runs.
var passthroughEnv = []string{
	"PATH", "HOME", "TMPDIR", "TZ", "LANG",
	"GODEBUG", "GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK",
	"LOG_LEVEL", "KAFKA_TOPIC", "KAFKA_CONSUMER_GROUP", "KAFKA_DLQ_TOPIC", "MONGODB_DATABASE",
	// Tracing (docs/configuration.md#tracing): both functions export to the
	// same OTLP endpoint; each keeps its own service name.
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_SDK_DISABLED", "OTEL_BSP_SCHEDULE_DELAY",
}

// defaultConfig is the configuration of `make run`, adjusted by the
// environment: KAFKA_BROKERS and MONGODB_URI select external services,
// DEV_STORE the embedded FerretDB's backend,
// KAFKA_TOPIC and KAFKA_DLQ_TOPIC rename the topics, LOG_LEVEL sets the level
// of devstack and the functions.
func defaultConfig(lookupEnv func(string) (string, bool)) (config, error) {
	get := func(key, def string) string {
		if v, ok := lookupEnv(key); ok && v != "" {
			return v
		}
		return def
	}
	cfg := config{
		mongoURI:  get("MONGODB_URI", ""),
		kafkaAddr: "127.0.0.1:9092",
		mongoAddr: "127.0.0.1:27017",
		topics: map[string]int32{
			get("KAFKA_TOPIC", "purchases"):         3,
			get("KAFKA_DLQ_TOPIC", "purchases-dlq"): 1,
		},
		dataDir: get("DEVSTACK_DATA_DIR", ".data"),
		functions: []function{
			{name: "cm-api", pkg: "./functions/cm-api", port: apiPort, metricsPort: apiMetricsPort, env: apiEnv},
			{name: "cm-server", pkg: "./functions/cm-server", port: serverPort, metricsPort: serverMetricsPort, env: serverEnv},
		},
		healthTimeout:   time.Minute,
		shutdownTimeout: 25 * time.Second, // the functions drain for up to 20s
	}
	if b := get("KAFKA_BROKERS", ""); b != "" {
		cfg.kafkaBrokers = strings.Split(b, ",")
	}
	var err error
	if cfg.storeBackend, err = stack.ParseBackend(get("DEV_STORE", "auto")); err != nil {
		return config{}, fmt.Errorf("DEV_STORE: %w", err)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		return config{}, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	for _, key := range passthroughEnv {
		if v, ok := lookupEnv(key); ok {
			cfg.env = append(cfg.env, key+"="+v)
		}
	}
	return cfg, nil
}

// apiEnv is cm-api's environment besides PORT.
func apiEnv(d *deps) []string {
	return []string{"KAFKA_BROKERS=" + strings.Join(d.brokers, ","), "MONGODB_URI=" + d.mongoURI}
}

// serverEnv is cm-server's environment besides PORT.
func serverEnv(d *deps) []string {
	return []string{"KAFKA_BROKERS=" + strings.Join(d.brokers, ","), fmt.Sprintf("CM_API_URL=http://127.0.0.1:%d", apiPort)}
}

// processNames returns the names that prefix output lines.
func (c config) processNames() []string {
	names := []string{"devstack", "kafka", "ferretdb"}
	for _, f := range c.functions {
		names = append(names, f.name)
	}
	return names
}
