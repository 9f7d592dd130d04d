// Command devstack runs the whole shop on a developer's machine, behind
// `make run`: an embedded Kafka and FerretDB (see package stack), then
// cm-api and cm-server built from source and run as child processes, with
// all output merged into one stream, each line prefixed by its process.
//
// KAFKA_BROKERS or MONGODB_URI make it use running services instead of the
// embedded ones; LOG_LEVEL is passed on to the functions.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

func main() {
	restore := takeTerminal()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.LookupEnv, os.Stdout)
	stop()
	restore()
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: %v\n", err)
		os.Exit(1)
	}
}

// run starts the stack and blocks until ctx ends or a function fails.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("unexpected arguments %q: devstack is configured through the environment", args[1:])
	}
	cfg, err := defaultConfig(lookupEnv)
	if err != nil {
		return err
	}
	// The functions run with the collector settings they ship with
	// (config/); GOGC or GOMEMLIMIT in devstack's environment come later
	// and win.
	gc, err := stack.ShippedGoRuntimeEnv("config", "cm-api")
	if err != nil {
		return err
	}
	cfg.env = append(gc, cfg.env...)
	return runStack(ctx, cfg, stdout)
}
