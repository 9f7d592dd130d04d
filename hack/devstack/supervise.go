package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runStack builds the functions, starts the backing services and the
// functions, and keeps them running until ctx ends (a clean stop) or a
// function exits on its own (an error). Either way it stops everything
// before returning.
func runStack(ctx context.Context, cfg config, stdout io.Writer) error {
	out := newMux(stdout, cfg.processNames()...)
	self := out.writer("devstack")
	defer func() { _ = self.Flush() }()
	log := newLogger(self, cfg.logLevel)

	bins, err := buildAll(ctx, log, cfg, out)
	if err != nil && ctx.Err() != nil {
		return nil // interrupted while building
	}
	if err != nil {
		return err
	}

	d, err := startDeps(ctx, log, cfg, out)
	if err != nil {
		return err
	}
	defer d.close(log)

	var procs []*process
	defer func() { stopAll(log, procs, cfg.shutdownTimeout) }()
	for _, b := range bins {
		p, err := start(b.fn, b.path, childEnv(cfg, b.fn, d), out.writer(b.fn.name))
		if err != nil {
			return err
		}
		log.Info("started", "function", b.fn.name, "pid", p.cmd.Process.Pid, "port", b.fn.port, "metrics_port", b.fn.metricsPort)
		procs = append(procs, p)
	}
	return supervise(ctx, log, cfg, procs, func() { printBanner(self, cfg, d, procs) })
}

// supervise waits for ctx to end or a process to exit, and calls banner once
// every process answers its health check.
func supervise(ctx context.Context, log *slog.Logger, cfg config, procs []*process, banner func()) error {
	exited := make(chan *process, len(procs))
	for _, p := range procs {
		go func() { <-p.done; exited <- p }()
	}
	healthCtx, cancel := context.WithTimeout(ctx, cfg.healthTimeout)
	defer cancel()
	healthy := make(chan error, 1)
	go func() { healthy <- waitHealthy(healthCtx, procs) }()

	for {
		select {
		case <-ctx.Done():
			log.Info("stopping on signal")
			return nil
		case p := <-exited:
			return fmt.Errorf("%s exited unexpectedly (%s); stopped everything", p.fn.name, exitText(p.err))
		case err := <-healthy:
			healthy = nil
			if err != nil {
				log.Warn("functions not healthy, still running them", "err", err)
				continue
			}
			banner()
		}
	}
}

// stopAll stops all processes in parallel. A second SIGINT or SIGTERM while
// they stop kills them at once.
func stopAll(log *slog.Logger, procs []*process, timeout time.Duration) {
	if len(procs) == 0 {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	force := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		select {
		case <-sig:
			close(force)
		case <-finished:
		}
	}()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(log, timeout, force) })
	}
	wg.Wait()
	close(finished)
}

// waitHealthy polls GET /healthz on every process until each answers 200.
func waitHealthy(ctx context.Context, procs []*process) error {
	client := &http.Client{Timeout: time.Second}
	for _, p := range procs {
		url := fmt.Sprintf("http://127.0.0.1:%d/healthz", p.fn.port)
		for !healthz(ctx, client, url) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: no 200 from %s: %w", p.fn.name, url, context.Cause(ctx))
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// healthz reports whether url answers 200 OK.
func healthz(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// printBanner tells the developer where everything is.
func printBanner(w io.Writer, cfg config, d *deps, procs []*process) {
	lines := []string{"", "scalable-shop is running"}
	// Reverse start order puts the public entry point, started last, first.
	for _, p := range slices.Backward(procs) {
		label := p.fn.name
		if p.fn.name == "cm-server" {
			label = "shop"
		}
		lines = append(lines, fmt.Sprintf("  %-9s http://localhost:%d", label, p.fn.port))
	}
	lines = append(lines,
		fmt.Sprintf("  %-9s %s", "kafka", d.describeKafka(cfg)),
		fmt.Sprintf("  %-9s %s", "mongodb", d.describeMongo()),
		"Ctrl-C stops everything.", "")
	// One write keeps the banner in one piece between other processes' lines.
	_, _ = io.WriteString(w, strings.Join(lines, "\n")+"\n")
}

// newLogger returns devstack's own logger: slog text lines, which read better
// than JSON between the functions' JSON lines, with a short timestamp.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		},
	}))
}
