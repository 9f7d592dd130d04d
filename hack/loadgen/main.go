// Command loadgen is the load generator behind `make bench`. It builds
// cm-server and cm-api, runs them as child processes against the Kafka
// broker in KAFKA_BROKERS (a real one: hack/bench.sh starts it) and a
// MongoDB wire-protocol store (MONGODB_URI, or an embedded FerretDB that it
// runs in a process of its own), drives them scenario by scenario, and
// prints a Markdown table in which every figure stands next to a reference
// limit measured in the same run (raw sarama produce, raw insertMany, raw
// find) and its target. The table and the details go to a JSON file too.
//
//	go run ./hack/loadgen [-quick] [-scenarios cold,buy,cpu,makerun,limiter,visible,drain,page] [-duration 20s] ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// run parses the flags, runs the scenarios and reports.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 3 && args[1] == serveStoreCmd {
		return serveStore(ctx, args[2], stdout)
	}
	if len(args) == 2 && args[1] == serveBareCmd {
		return serveBare(ctx, stdout)
	}
	cfg, err := parseConfig(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	brokers, _ := lookup("KAFKA_BROKERS")
	if brokers == "" {
		return errors.New("KAFKA_BROKERS is not set: run hack/bench.sh (make bench), which starts a real broker, " +
			"or start one with `eval \"$(hack/kafka.sh start)\"`")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	b, err := newBench(cfg, strings.Split(brokers, ","), stderr)
	if err != nil {
		return err
	}
	mongoURI, _ := lookup("MONGODB_URI")
	runErr := b.runAll(ctx, mongoURI)
	b.close(runErr != nil || len(b.report.Failures) > 0)
	b.report.Runtime = time.Since(b.report.Started).Seconds()
	fmt.Fprint(stdout, markdown(b.report.Rows, b.report.Failures))
	if cfg.JSONPath != "" {
		if err := b.report.writeJSON(cfg.JSONPath); err != nil {
			return errors.Join(runErr, fmt.Errorf("write %s: %w", cfg.JSONPath, err))
		}
		b.logf("results written to %s (%.0f s)", cfg.JSONPath, b.report.Runtime)
	}
	if runErr == nil && len(b.report.Failures) > 0 {
		runErr = fmt.Errorf("%d scenario(s) failed", len(b.report.Failures))
	}
	return runErr
}

// runAll prepares the binaries and the store, then runs each scenario; a
// failed scenario is reported and the next one runs.
func (b *bench) runAll(ctx context.Context, mongoURI string) error {
	if err := b.build(ctx); err != nil {
		return err
	}
	if err := b.openStore(ctx, mongoURI); err != nil {
		return err
	}
	run := map[string]func(context.Context) error{
		"cold": b.coldStart, "buy": b.buy, "cpu": b.cpu, "makerun": b.makeRun, "limiter": b.limiter, "visible": b.visible, "drain": b.drain, "page": b.firstPage,
	}
	for _, name := range b.cfg.Scenarios {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped before %s: %w", name, ctx.Err())
		}
		b.logf("=== %s", name)
		start := time.Now()
		if err := run[name](ctx); err != nil {
			b.logf("%s failed: %v", name, err)
			b.report.fail(name, err)
		}
		b.logf("=== %s done in %.0f s", name, time.Since(start).Seconds())
	}
	return nil
}

// environment describes the machine for the report.
func environment(brokers []string) map[string]any {
	host, _ := os.Hostname()
	return map[string]any{"go": runtime.Version(), "cpus": runtime.NumCPU(), "os": runtime.GOOS + "/" + runtime.GOARCH,
		"host": host, "kafka_brokers": brokers, "run_id": uuid.NewString()[:8]}
}
