// Package telemetry makes both functions observable: Prometheus metrics and
// the OpenTelemetry spans that follow a purchase from POST /buy through Kafka
// into the store.
package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// Metrics is one function's registry with its HTTP metrics. Each function
// registers its own metrics on it too.
type Metrics struct {
	Registry *prometheus.Registry
	labels   prometheus.Labels
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// LatencyBuckets span a fraction of a millisecond (a cached list) to seconds
// (a broker outage).
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics returns a registry with the Go runtime, process and HTTP
// metrics of function.
func NewMetrics(function string) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), labels: prometheus.Labels{"function": function}}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = m.Counter("shop_http_requests_total", "HTTP requests by route pattern, method and status code.",
		"route", "method", "code")
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shop_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		ConstLabels: m.labels, Buckets: LatencyBuckets,
	}, []string{"route"})
	m.Registry.MustRegister(m.duration)
	return m
}

// ObserveRequest records one request. route is the mux pattern, so label
// values stay few. A request in a sampled trace leaves its trace_id as the
// latency's exemplar, which Grafana links to the trace.
func (m *Metrics) ObserveRequest(ctx context.Context, route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	h := m.duration.WithLabelValues(route)
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		h.(prometheus.ExemplarObserver).ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	h.Observe(d.Seconds())
}

// Handler serves the registry as Prometheus text, or as OpenMetrics, with
// exemplars, to a scraper that asks for it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, EnableOpenMetrics: true})
}

// Counter registers a counter with the function's label and labels.
func (m *Metrics) Counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: m.labels}, labels)
	m.Registry.MustRegister(c)
	return c
}

// Histogram registers a histogram with the function's label.
func (m *Metrics) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: m.labels, Buckets: buckets})
	m.Registry.MustRegister(h)
	return h
}

// Gauge registers a gauge with the function's label and labels.
func (m *Metrics) Gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: m.labels}, labels)
	m.Registry.MustRegister(g)
	return g
}
