// Package shopctl is the operator's tool, run by cmd/shopctl: it creates and
// checks the shop's Kafka topics, lists and redrives the dead letters of
// either delivery mode, and replays the purchases topic into the store. It
// reads the same Kafka variables and files the functions read
// (KAFKA_BROKERS, KAFKA_SASL_*, KAFKA_TLS*, KAFKA_TOPIC, KAFKA_DLQ_TOPIC, and
// cm-server's CM_API_URL and CM_API_TOKEN_FILE for replay); flags choose
// only what a subcommand does.
//
// The code lives under functions/ because Go lets only packages there
// import functions/internal (broker, env, purchase); the command itself is
// cmd/shopctl.
package shopctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// Main runs the command line args (args[0] is the program's name) with the
// environment lookup and answers the exit code: 0 ok, 1 failure, 2 usage.
func Main(ctx context.Context, args []string, lookup env.Lookup, stdout, stderr io.Writer) int {
	return exitCode(run(ctx, args, lookup, stdout, stderr), stderr)
}

// usageError is a command line that names no known command or has bad
// flags: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitCode prints err and maps it to the exit code: 0 ok, 1 failure, 2 usage.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "shopctl:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "run 'shopctl help' for the commands and their flags")
		return 2
	}
	return 1
}

const usage = `shopctl: the scalable-shop operator's tool.

  shopctl topics ensure [flags]   create the shop's topics when missing, check existing ones
  shopctl dlq list [flags]        list the dead letters (both delivery modes)
  shopctl dlq redrive [flags]     send chosen dead letters back to the purchases topic
  shopctl replay --since T [flags] store every purchase written since T again, through cm-api
  shopctl version                 print the version

Kafka settings come from the functions' variables: KAFKA_BROKERS (default
localhost:9092), KAFKA_SASL_MECHANISM/USERNAME/PASSWORD, KAFKA_TLS,
KAFKA_TLS_CA_FILE, KAFKA_TOPIC (purchases), KAFKA_DLQ_TOPIC (purchases-dlq);
replay reaches cm-api as cm-server does: CM_API_URL, CM_API_TOKEN_FILE.
'shopctl <command> <subcommand> -h' lists a command's flags.
`

// run runs the command line args (args[0] is the program name).
func run(ctx context.Context, args []string, lookup env.Lookup, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return usagef("no command given")
	}
	cmd := strings.Join(args[1:min(3, len(args))], " ")
	switch cmd {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	case "topics ensure":
		return topicsEnsure(ctx, args[3:], lookup, stdout, stderr)
	case "dlq list":
		return dlqList(ctx, args[3:], lookup, stdout, stderr)
	case "dlq redrive":
		return dlqRedrive(ctx, args[3:], lookup, stdout, stderr)
	}
	switch args[1] {
	case "replay":
		return replayCmd(ctx, args[2:], lookup, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "shopctl", buildinfo.Version)
		return nil
	}
	return usagef("unknown command %q", cmd)
}

// config is what every command reads from the environment.
type config struct {
	Kafka    broker.Config
	Topic    string
	DLQTopic string
}

func loadConfig(lookup env.Lookup) (config, error) {
	r := env.NewReader(lookup)
	cfg := config{
		Kafka:    broker.FromEnv(r, "localhost:9092", "shopctl"),
		Topic:    r.String("KAFKA_TOPIC", "purchases"),
		DLQTopic: r.String("KAFKA_DLQ_TOPIC", "purchases-dlq"),
	}
	if cfg.Topic == cfg.DLQTopic {
		r.Fail("KAFKA_DLQ_TOPIC must differ from KAFKA_TOPIC (%q)", cfg.Topic)
	}
	return cfg, r.Err()
}

// newFlags is a subcommand's flag set: errors are returned, not printed
// and exited on; -h prints the flags to stdout.
func newFlags(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	return fs
}

// parseFlags parses args, mapping a bad flag to a usage error.
func parseFlags(fs *flag.FlagSet, args []string) (helped bool, err error) {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the error is reported once, by exitCode
	err = fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.PrintDefaults()
		return true, nil
	case err != nil:
		return false, usagef("%s: %v", fs.Name(), err)
	case fs.NArg() > 0:
		return false, usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

// connect opens a client of the brokers within ctx. sarama's own calls take
// no context, so one that outlives ctx is left to finish and close alone.
func connect(ctx context.Context, kc broker.Config) (sarama.Client, error) {
	return connectWith(ctx, kc, false)
}

// connectWith is connect; durable keeps the functions' idempotent producer
// settings, for a client that sends.
func connectWith(ctx context.Context, kc broker.Config, durable bool) (sarama.Client, error) {
	sc, err := kc.Producer()
	if err != nil {
		return nil, err
	}
	if !durable {
		sc.Producer.Idempotent, sc.Net.MaxOpenRequests = false, 5 // admin and reads: no producer id needed
	}
	type result struct {
		c   sarama.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := sarama.NewClient(kc.Brokers, sc)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("cannot reach Kafka at %s: %w", strings.Join(kc.Brokers, ","), r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("cannot reach Kafka at %s: gave up after the timeout: %w", strings.Join(kc.Brokers, ","), ctx.Err())
	}
}

// timeoutFlag adds the -timeout flag every command has.
func timeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("timeout", 30*time.Second, "give up after this long (reaching the brokers included)")
}
