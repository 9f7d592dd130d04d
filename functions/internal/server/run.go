package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/logging"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// Runtime is the configuration the Knative runtime contract sets, and what
// both functions read alike.
type Runtime struct {
	Port        string        // PORT
	MetricsPort string        // METRICS_PORT: /metrics and the detailed /readyz (OpsHandler)
	LogLevel    string        // LOG_LEVEL
	Drain       time.Duration // DRAIN_TIMEOUT: how long in-flight requests may finish at SIGTERM
	Service     string        // K_SERVICE: names the function (and its event source)
	Revision    string        // K_REVISION: set only on Knative
	Pprof       string        // DEBUG_PPROF_ADDR: loopback host:port of the profiler; "" = off
}

// ReadRuntime reads the runtime settings; name is K_SERVICE's default and
// metricsPort METRICS_PORT's.
func ReadRuntime(r *env.Reader, name string, metricsPort int) Runtime {
	rt := Runtime{
		Port:     r.String("PORT", "8080"),
		LogLevel: r.String("LOG_LEVEL", "info"),
		Drain:    r.Duration("DRAIN_TIMEOUT", 20*time.Second),
		Service:  r.String("K_SERVICE", name),
		Revision: r.String("K_REVISION", ""),
		Pprof:    r.String("DEBUG_PPROF_ADDR", ""),
	}
	rt.MetricsPort = readMetricsPort(r, rt.Port, metricsPort)
	if rt.Pprof != "" {
		if err := checkPprofAddr(rt.Pprof); err != nil {
			r.Fail("DEBUG_PPROF_ADDR=%q: %v", rt.Pprof, err)
		}
	}
	return rt
}

// RunFunc is a function's run, as its main calls it.
type RunFunc func(ctx context.Context, args []string, lookup env.Lookup, stdout io.Writer) error

// Main calls run with a context that ends on SIGINT or SIGTERM and the
// process's arguments, environment and stdout. It prints run's error and
// returns the exit code.
func Main(name string, run RunFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.LookupEnv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	return 0
}

// Handlers are what a function serves.
type Handlers struct {
	API http.Handler // on PORT, through the Knative route
	Ops http.Handler // on METRICS_PORT, by pod IP only (OpsHandler)
}

// Function is what a function's run hands to Run.
type Function struct {
	Name    string     // "cm-server", "cm-api": on every log line
	Runtime Runtime    // ports, log level, drain
	Config  slog.Value // the effective configuration, secrets redacted, logged once
	Lookup  env.Lookup // the environment, for the OpenTelemetry variables (nil: none set)
	// Start connects in the background, since start-up must not wait for
	// dependencies, and returns the handlers and what to stop once requests
	// are drained. Its ctx ends when shutdown begins, so background work such
	// as a consumer winds down while requests drain.
	Start func(ctx context.Context, log *slog.Logger) (Handlers, Stopper, error)
}

// Stopper stops what a function started, after its requests are drained:
// flush a producer, let a consumer commit, disconnect a store.
type Stopper func() error

// Run is the lifecycle of the Knative runtime contract that both functions
// share. It listens on both ports before anything else (Knative counts cold
// start to the first byte), starts the function, serves until ctx ends,
// drains requests for at most Drain, closes the metrics port, then stops the
// function. It returns every error of serving and stopping, joined.
func Run(ctx context.Context, stdout io.Writer, f Function) error {
	log, err := logging.New(stdout, f.Runtime.LogLevel, f.Name)
	if err != nil {
		return err
	}
	ln, err := Listen(f.Runtime.Port)
	if err != nil {
		return err
	}
	opsLn, err := Listen(f.Runtime.MetricsPort)
	if err != nil {
		return errors.Join(fmt.Errorf("METRICS_PORT: %w", err), ln.Close())
	}
	closeAll := func(err error) error { return errors.Join(err, ln.Close(), opsLn.Close()) }
	log.Info("starting", "version", buildinfo.Version, "config", f.Config, "metrics_port", f.Runtime.MetricsPort)
	lookup := f.Lookup
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	stopTracing, err := telemetry.StartTracing(ctx, log, lookup, f.Name)
	if err != nil {
		return closeAll(err)
	}
	appCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f.Runtime.Pprof != "" {
		stopPprof, err := servePprof(ctx, log, f.Runtime.Pprof)
		if err != nil {
			return closeAll(err)
		}
		defer stopPprof()
	}
	h, stop, err := f.Start(appCtx, log)
	if err != nil {
		return closeAll(err)
	}
	if h.Ops == nil {
		h.Ops = http.NotFoundHandler()
	}
	stopOps := serveInBackground("metrics port", newServer(log, h.Ops), opsLn)
	serveErr := Serve(ctx, log, ln, h.API, f.Runtime.Drain)
	cancel()
	opsErr := stopOps(ctx)
	var stopErr error
	if stop != nil {
		stopErr = stop()
	}
	log.Info("stopped")
	return errors.Join(serveErr, opsErr, stopErr, stopTracing(context.WithoutCancel(ctx)))
}

// Timeouts against slow clients; Write leaves room for a send to the broker.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 45 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Listen opens port on all interfaces.
func Listen(port string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("", port))
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: %w", port, err)
	}
	return ln, nil
}

// newServer is an http.Server for h with the timeouts and header limit that
// keep slow or greedy clients from holding connections.
func newServer(log *slog.Logger, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve serves h on ln until ctx is done, then stops accepting and waits up
// to drain for in-flight requests to finish.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, drain time.Duration) error {
	srv := newServer(log, h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests", "drain", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain requests: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
