// Command shopctl is the scalable-shop operator's tool: `shopctl help` lists
// its commands (topics ensure, dlq list, dlq redrive, replay). The code is
// package functions/shopctl; docs/operations.md is its runbook.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/scalable-shop/scalable-shop/functions/shopctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := shopctl.Main(ctx, os.Args, os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
