package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// shopMetrics are cm-api's own metrics, beside the HTTP ones.
type shopMetrics struct {
	*telemetry.Metrics
	events       *prometheus.CounterVec // stored, duplicate, dead_lettered, rejected
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
	lag          *prometheus.GaugeVec // Kafka mode, per partition
}

func newShopMetrics(m *telemetry.Metrics) *shopMetrics {
	return &shopMetrics{
		Metrics: m,
		events: m.Counter("shop_events_total",
			"Purchase events by outcome: stored, duplicate (already stored), dead_lettered (Kafka mode) or rejected (HTTP 400).", "result"),
		batchSize: m.Histogram("shop_store_batch_size", "Purchases per insertMany (group commit).",
			[]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}),
		batchSeconds: m.Histogram("shop_store_batch_duration_seconds", "Time to write one batch.", telemetry.LatencyBuckets),
		lag:          m.Gauge("shop_consumer_lag", "Records behind the partition's high-water mark (Kafka mode).", "topic", "partition"),
	}
}
