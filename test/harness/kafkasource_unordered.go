package harness

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
)

// How the KafkaSource stand-in consumes with spec.ordering unordered, as
// eventing-kafka-broker's dispatcher does at knative-v1.23.0 (files under
// data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/):
//   - impl/consumer/UnorderedConsumerVerticle.java: the next poll follows as
//     soon as the last one's records are dispatched (no poll timer; a poll
//     waits up to POLL_TIMEOUT, 500 ms, for records), but none starts while
//     inFlightRecords >= max.poll.records. inFlightRecords counts every
//     record dispatched and not yet finished, across the consumer's
//     partitions, those of revoked partitions too. A poll returns up to
//     max.poll.records, so up to 2*max.poll.records-1 records (99 as
//     shipped) are in flight at once.
//   - the same file: every record of a poll is dispatched at once, each with
//     its own retries and dead-lettering (impl/RecordDispatcherImpl.java),
//     so a failing record holds back no other.
//   - impl/consumer/OffsetManager.java (OffsetTracker): per partition, the
//     offset committed is the end of the contiguous run of finished records
//     (delivered, dead-lettered, or failed to dead-letter) from the first
//     record the consumer was given; committed every
//     auto.commit.interval.ms (5 s) and when the partition is revoked. A
//     crash redelivers from the first unfinished record.
//   - OffsetManager's and UnorderedConsumerVerticle's partition-revoked
//     handlers drop the revoked partitions' trackers: their deliveries in
//     flight go on, and finishing commits nothing; the new owner delivers
//     them again from the committed offset.
//   - the Kafka consumer takes part in a rebalance only from poll(), which
//     the verticle does not call while max.poll.records are in flight, so a
//     rebalance waits for the in-flight count to drop below it: during a
//     store outage, until it ends. (max.poll.interval.ms, after which the
//     group would drop the consumer, is set from the delivery's retries and
//     timeouts, main/ConsumerVerticleContext.java maxProcessingTimeMs: days
//     with the shipped delivery.)
//   - OffsetSkippingCloudEvent.java (one event for each offset missing
//     between two polled records) is not modelled: the shop's topics are
//     written without transactions and not compacted, so their offsets have
//     no gaps.

// inFlightRecords is UnorderedConsumerVerticle's count for one consumer: it
// outlives consumer group sessions, as the verticle outlives rebalances.
type inFlightRecords struct {
	mu    sync.Mutex
	n     int
	max   int           // max.poll.records
	freed chan struct{} // closed, and replaced, when a record finishes
}

func newInFlightRecords(max int) *inFlightRecords {
	return &inFlightRecords{max: max, freed: make(chan struct{})}
}

// wait returns when a poll may start (fewer than max in flight); false when
// ctx ended first.
func (r *inFlightRecords) wait(ctx context.Context) bool {
	for {
		r.mu.Lock()
		n, freed := r.n, r.freed
		r.mu.Unlock()
		if n < r.max {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-freed:
		}
	}
}

func (r *inFlightRecords) add(n int) {
	r.mu.Lock()
	r.n += n
	r.mu.Unlock()
}

func (r *inFlightRecords) done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n--
	close(r.freed)
	r.freed = make(chan struct{})
}

// unorderedSession is one consumer group session of an unordered consumer:
// the records of every partition it owns, handed to its poll loop, and
// OffsetManager's trackers, which end with the session.
type unorderedSession struct {
	sess    sarama.ConsumerGroupSession
	records chan *sarama.ConsumerMessage

	mu       sync.Mutex
	trackers map[int32]*offsetTracker
}

// offsetTracker is OffsetManager.OffsetTracker: next is the first offset
// not finished, done the finished offsets after it.
type offsetTracker struct {
	next int64
	done map[int64]bool
}

// received starts the partition's tracker at the first record given.
func (u *unorderedSession) received(msg *sarama.ConsumerMessage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.trackers[msg.Partition]; !ok {
		u.trackers[msg.Partition] = &offsetTracker{next: msg.Offset, done: map[int64]bool{}}
	}
}

// finished marks msg done and the contiguous finished prefix for the next
// commit; after the session ended (revoked) it marks nothing.
func (u *unorderedSession) finished(msg *sarama.ConsumerMessage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t := u.trackers[msg.Partition]
	if t == nil || u.sess.Context().Err() != nil {
		return
	}
	t.done[msg.Offset] = true
	for t.done[t.next] {
		delete(t.done, t.next)
		t.next++
	}
	u.sess.MarkOffset(msg.Topic, msg.Partition, t.next, "")
}

// startUnordered begins a session's poll loop.
func (h *sourceHandler) startUnordered(sess sarama.ConsumerGroupSession) {
	u := &unorderedSession{sess: sess, records: make(chan *sarama.ConsumerMessage), trackers: map[int32]*offsetTracker{}}
	h.session.Store(u)
	h.inFlight.Go(func() { h.pollUnordered(u) })
}

// forward hands one partition's records to the session's poll loop until
// the session ends; records fetched and not yet polled are dropped then.
// It returns, letting the group rebalance, once the consumer would poll.
func (h *sourceHandler) forward(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	defer h.unordered.wait(h.life)
	u := h.session.Load()
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			select {
			case u.records <- msg:
			case <-sess.Context().Done():
				return nil
			}
		}
	}
}

// pollUnordered is UnorderedConsumerVerticle's poll loop for one session:
// while fewer than max.poll.records are in flight, a poll takes the records
// at hand (at least one, at most max.poll.records) and dispatches them all.
func (h *sourceHandler) pollUnordered(u *unorderedSession) {
	ctx := u.sess.Context()
	for h.unordered.wait(ctx) {
		var batch []*sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return
		case msg := <-u.records:
			batch = append(batch, msg)
		}
	fetched:
		for len(batch) < h.cfg.Consumer.MaxPollRecords {
			select {
			case msg := <-u.records:
				batch = append(batch, msg)
			default:
				break fetched
			}
		}
		h.unordered.add(len(batch))
		for _, msg := range batch {
			u.received(msg)
			h.inFlight.Go(func() {
				defer h.unordered.done()
				h.deliver(msg)
				if h.life.Err() == nil { // not cut off by a stop or crash
					u.finished(msg)
				}
			})
		}
	}
}
