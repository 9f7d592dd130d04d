package main

import (
	"context"

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
	storeUp      *prometheus.GaugeVec // no labels: absent until the first readiness check
}

// eventResults are shop_events_total's results, each started at 0 so that
// an alert sees the first dead letter as an increase.
var eventResults = []string{"stored", "duplicate", "dead_lettered", "rejected", "refused"}

func newShopMetrics(m *telemetry.Metrics) *shopMetrics {
	sm := &shopMetrics{
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
		storeUp: m.Gauge("shop_store_up",
			"1 when the store answered cm-api's last readiness check (a ping), 0 when it did not; absent before the first check."),
	}
	for _, r := range eventResults {
		sm.events.WithLabelValues(r)
	}
	return sm
}

// pingStore is the store's readiness check: ping, and record the outcome
// in shop_store_up.
func (m *shopMetrics) pingStore(ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := ping(ctx)
		up := 1.0
		if err != nil {
			up = 0
		}
		m.storeUp.WithLabelValues().Set(up)
		return err
	}
}
