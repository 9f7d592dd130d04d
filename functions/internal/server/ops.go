package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// The functions' default METRICS_PORT: different, so both run on one machine
// (`make run`) with their defaults; in a cluster each pod has its own.
const (
	MetricsPortServer = 9464
	MetricsPortAPI    = 9465
)

// queueProxyPorts are the ports Knative Serving's queue-proxy listens on in
// every pod of a Knative Service, and which Knative refuses as the user's
// container port (knative/serving knative-v1.23.0,
// pkg/apis/serving/k8s_validation.go reservedPorts; the numbers are in
// pkg/networking/constants.go, and 8008 is knative.dev/pkg's
// observability/runtime ProfilingDefaultPort). The operational listener
// shares the pod's network with queue-proxy, so it must not take one.
var queueProxyPorts = map[int]string{
	8012: "queue-proxy's HTTP port", 8013: "queue-proxy's HTTP/2 port", 8112: "queue-proxy's HTTPS port",
	8022: "queue-proxy's admin port", 9090: "queue-proxy's autoscaling metrics port",
	9091: "queue-proxy's user metrics port", 8008: "queue-proxy's profiling port",
}

// readMetricsPort reads METRICS_PORT, the operational port: it cannot be
// turned off, and it is never PORT nor a port queue-proxy uses. 0 (any free
// port) is refused too: Prometheus must know where to scrape.
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

// OpsHandler serves the operational endpoints on METRICS_PORT, and nothing
// else: GET /metrics (Prometheus) and GET /readyz with each dependency's
// state and error text. The Knative route forwards only PORT (queue-proxy
// proxies to 127.0.0.1:$PORT, knative/serving knative-v1.23.0
// pkg/queue/sharedmain/main.go), so this port is reached by pod IP only: by
// Prometheus, or whatever the cluster's NetworkPolicies admit.
func OpsHandler(metrics http.Handler, rd *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /readyz", handleReadyDetails(rd))
	return mux
}

// serveOps serves h on ln until stop is called, with the same timeouts
// against slow clients as the API. Its error is the server's, if it failed
// before stop.
func serveOps(log *slog.Logger, ln net.Listener, h http.Handler) (stop func(ctx context.Context) error) {
	srv := newServer(log, h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	return func(ctx context.Context) error {
		// A scrape under way may finish; the drain has already ended.
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
			return fmt.Errorf("metrics port: %w", err)
		}
		return nil
	}
}
