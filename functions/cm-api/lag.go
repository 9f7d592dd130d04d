package main

import (
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// lagEvery is how often a claimed partition's lag is measured.
const lagEvery = 5 * time.Second

// brokerOffset asks the brokers for a partition's offset at a time, or at
// sarama.OffsetNewest or OffsetOldest (sarama.Client.GetOffset). The
// claim's own high-water mark stops moving while the partition is stalled,
// exactly when the lag matters.
type brokerOffset func(topic string, partition int32, at int64) (int64, error)

// partitionWatch keeps one claimed partition's lag gauges: the offset after
// the last marked record, and the records pulled but not yet marked, oldest
// first.
type partitionWatch struct {
	topic     string
	partition string
	metrics   *shopMetrics

	mu      sync.Mutex
	next    int64 // offset after the last marked record; < 0 until known
	pending []pulled
	ended   bool
}

// pulled is a record handed to the handler and not yet marked.
type pulled struct {
	offset int64
	at     time.Time
}

func newPartitionWatch(claim sarama.ConsumerGroupClaim, m *shopMetrics) *partitionWatch {
	return &partitionWatch{topic: claim.Topic(), partition: strconv.Itoa(int(claim.Partition())), metrics: m,
		next: claim.InitialOffset()}
}

// pull notes that the record at offset was handed over at now.
func (w *partitionWatch) pull(offset int64, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resolve(offset)
	w.pending = append(w.pending, pulled{offset, now})
}

// resolve sets where a claim from "oldest" or "newest" starts, once.
// The caller holds mu.
func (w *partitionWatch) resolve(offset int64) {
	if w.next < 0 {
		w.next = offset
	}
}

// mark notes that the record at offset, the oldest pending, was marked.
func (w *partitionWatch) mark(offset int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next = offset + 1
	if len(w.pending) > 0 && w.pending[0].offset == offset {
		w.pending = w.pending[1:]
	}
}

// report sets the gauges: the lag (high-water mark minus the offset after
// the last marked record) and the oldest pending record's offset and age
// (0 when none). After end it does nothing, so that a slow look-up cannot
// bring back a revoked partition's series.
func (w *partitionWatch) report(hwm int64, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	if w.next >= 0 && hwm >= 0 {
		w.metrics.lag.WithLabelValues(w.topic, w.partition).Set(float64(max(hwm-w.next, 0)))
	}
	age, offset := 0.0, float64(w.next)
	if len(w.pending) > 0 {
		age, offset = now.Sub(w.pending[0].at).Seconds(), float64(w.pending[0].offset)
	}
	w.metrics.oldestAge.WithLabelValues(w.topic, w.partition).Set(age)
	if offset >= 0 {
		w.metrics.oldestOffset.WithLabelValues(w.topic, w.partition).Set(offset)
	}
}

// end deletes the partition's series: it is no longer this consumer's.
func (w *partitionWatch) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	w.metrics.lag.DeleteLabelValues(w.topic, w.partition)
	w.metrics.oldestAge.DeleteLabelValues(w.topic, w.partition)
	w.metrics.oldestOffset.DeleteLabelValues(w.topic, w.partition)
}

// watch reports every interval until stop is closed, the high-water mark
// from offsetAt (the claim's own when nil or failing). A claim from
// "oldest" or "newest" is resolved first, so the lag shows before the
// first record is pulled.
func (w *partitionWatch) watch(claim sarama.ConsumerGroupClaim, offsetAt brokerOffset, interval time.Duration, stop <-chan struct{}) {
	if start := claim.InitialOffset(); start < 0 && offsetAt != nil {
		if off, err := offsetAt(w.topic, claim.Partition(), start); err == nil {
			w.mu.Lock()
			w.resolve(off)
			w.mu.Unlock()
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		hwm := claim.HighWaterMarkOffset()
		if offsetAt != nil {
			if n, err := offsetAt(w.topic, claim.Partition(), sarama.OffsetNewest); err == nil {
				hwm = n
			}
		}
		w.report(hwm, time.Now())
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
