// Command ferretdb runs the embedded MongoDB wire-protocol server of package
// stack (FerretDB on PostgreSQL, or SQLite) on its own: hack/test.sh starts it for the
// functions' tests, which take their store from MONGODB_URI and so depend on
// nothing under hack/ or test/. It prints MONGODB_URI=<uri> once it listens
// and runs until interrupted.
//
//	go run ./hack/ferretdb [-addr 127.0.0.1:0] [-dir DIR] [-backend auto|postgresql|sqlite]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}

// run starts the server, prints its URI to stdout and blocks until ctx ends.
// Without -dir the data lives in a temporary folder removed on return.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	dir := flags.String("dir", "", "data folder (default: a temporary folder, removed on exit)")
	backendName := flags.String("backend", "auto", "where the data is kept: postgresql, sqlite, or auto (PostgreSQL when it starts)")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	backend, err := stack.ParseBackend(*backendName)
	if err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := stack.MkdirTemp("scalable-shop-ferretdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	m, err := stack.StartMongo(ctx, *addr, *dir, stack.WithLogOutput(os.Stderr), stack.WithBackend(backend))
	if err != nil {
		return fmt.Errorf("start FerretDB: %w", err)
	}
	defer m.Close()
	if m.Fallback() != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: on SQLite, not PostgreSQL: %v\n", m.Fallback())
	}
	if _, err := fmt.Fprintf(stdout, "MONGODB_URI=%s\n", m.URI()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
