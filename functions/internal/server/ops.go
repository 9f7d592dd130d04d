package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// The functions' default METRICS_PORT: different, so both run on one machine
// with their defaults.
const (
	MetricsPortServer = 9464
	MetricsPortAPI    = 9465
)

// queueProxyPorts are the ports Knative's queue-proxy takes in every pod,
// whose network the metrics port shares (knative/serving knative-v1.23.0,
// pkg/apis/serving/k8s_validation.go reservedPorts; 8008 is knative.dev/pkg's
// ProfilingDefaultPort).
var queueProxyPorts = map[int]string{
	8012: "queue-proxy's HTTP port", 8013: "queue-proxy's HTTP/2 port", 8112: "queue-proxy's HTTPS port",
	8022: "queue-proxy's admin port", 9090: "queue-proxy's autoscaling metrics port",
	9091: "queue-proxy's user metrics port", 8008: "queue-proxy's profiling port",
}

// readMetricsPort reads METRICS_PORT. It cannot be off or 0 (Prometheus must
// know where to scrape), PORT, or a port of queue-proxy.
func readMetricsPort(r *env.Reader, port string, def int) string {
	n := r.Int("METRICS_PORT", def, 1, 65535)
	if what, ok := queueProxyPorts[n]; ok {
		r.Fail("METRICS_PORT=%d: that is Knative %s; take another, e.g. %d", n, what, def)
	}
	if strconv.Itoa(n) == port {
		r.Fail("METRICS_PORT=%d: the same as PORT, which the Knative route exposes; want a port of its own", n)
	}
	return strconv.Itoa(n)
}

// OpsHandler serves GET /metrics and the detailed GET /readyz on
// METRICS_PORT. Knative routes only PORT to the pod, so this port is reached
// by pod IP only: by Prometheus, or what NetworkPolicies admit.
func OpsHandler(metrics http.Handler, rd *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /readyz", handleReadyDetails(rd))
	return mux
}

// serveInBackground serves srv on ln until stop is called. stop gives a
// request under way a second to finish, then closes; its error, prefixed
// with name, is the server's, if it failed before stop.
func serveInBackground(name string, srv *http.Server, ln net.Listener) (stop func(ctx context.Context) error) {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	return func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = srv.Close()
		}
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
}

// checkPprofAddr accepts only a loopback host:port (or localhost), so the
// profiler is never reachable from outside the pod.
func checkPprofAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("want host:port on loopback, e.g. 127.0.0.1:6060")
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the profiler listens on loopback only", host)
	}
	return nil
}

// servePprof serves net/http/pprof on addr (DEBUG_PPROF_ADDR) until stop is
// called. Its mux is its own, not http.DefaultServeMux, and it has no write
// timeout: a CPU profile takes as long as it profiles.
func servePprof(ctx context.Context, log *slog.Logger, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("DEBUG_PPROF_ADDR: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout}
	stopSrv := serveInBackground("profiler", srv, ln)
	log.Warn("profiler listening: for measuring only", "addr", ln.Addr().String())
	return func() {
		if err := stopSrv(ctx); err != nil {
			log.Warn("profiler stopped", "err", err)
		}
	}, nil
}
