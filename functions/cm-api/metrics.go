package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// shopMetrics are cm-api's own metrics, beside the HTTP ones.
type shopMetrics struct {
	*telemetry.Metrics
	events       *prometheus.CounterVec // stored, duplicate, dead_lettered, rejected, refused
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
	lag          *prometheus.GaugeVec // Kafka mode, per partition
	oldestAge    *prometheus.GaugeVec // Kafka mode, per partition
	oldestOffset *prometheus.GaugeVec // Kafka mode, per partition
}

func newShopMetrics(m *telemetry.Metrics) *shopMetrics {
	return &shopMetrics{
		Metrics: m,
		events: m.Counter("shop_events_total",
			"Purchase events by outcome: stored, duplicate (already stored), dead_lettered (Kafka mode), rejected (HTTP 400) or refused (the store refused it for good: dead-lettered in Kafka mode, HTTP 422).", "result"),
		batchSize: m.Histogram("shop_store_batch_size", "Purchases per insert command (group commit).",
			[]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}),
		batchSeconds: m.Histogram("shop_store_batch_duration_seconds", "Time to write one batch.", telemetry.LatencyBuckets),
		lag: m.Gauge("shop_consumer_lag",
			"Records between the partition's high-water mark and the offset after the last marked record, measured every 5 s (Kafka mode).",
			"topic", "partition"),
		oldestAge: m.Gauge("shop_consumer_oldest_pending_seconds",
			"Age of the partition's oldest record pulled and not yet stored or dead-lettered; 0 when none (Kafka mode). Growing: the partition is stuck.",
			"topic", "partition"),
		oldestOffset: m.Gauge("shop_consumer_oldest_pending_offset",
			"Offset of the partition's oldest record not yet stored or dead-lettered (Kafka mode).", "topic", "partition"),
	}
}
