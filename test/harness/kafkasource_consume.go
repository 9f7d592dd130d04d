package harness

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// How the KafkaSource stand-in consumes, as eventing-kafka-broker's
// dispatcher does at knative-v1.23.0 (files under
// data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/):
//   - impl/consumer/OffsetManager.java: delivered records' offsets are
//     committed on a timer (auto.commit.interval.ms, 5 s) and when the
//     partitions are revoked; a crash loses what the timer had not committed.
//   - impl/consumer/OrderedConsumerVerticle.java: a poll at most every
//     POLLING_MS (200 ms), only for partitions whose queue is empty, each
//     poll returning at most max.poll.records (50,
//     data-plane/config/source/100-config-kafka-source-data-plane.yaml)
//     records in all; so one consumer delivers at most about 250 events/s
//     however fast the subscriber is.
//   - OrderedConsumerVerticle's partitionRevokedHandler stops a revoked
//     partition's executor: the records queued behind the one in flight are
//     dropped, but the one in flight is not: its retries go on, and if they
//     run out it goes to the dead-letter sink, while the partition's new
//     owner (StickyAssignor) starts again from the committed offset and
//     delivers it too. Its offset is not committed by the old owner.

type sourceHandler struct {
	src      *KafkaSource
	cfg      SourceConfig
	client   *http.Client
	life     context.Context // ends when the stand-in stops or crashes
	poll     *poller
	crashed  atomic.Bool
	inFlight sync.WaitGroup // deliveries, including those a rebalance left running

	// With spec.ordering unordered (kafkasource_unordered.go): the
	// consumer's in-flight count, and the session its poll loop serves.
	unordered *inFlightRecords
	session   atomic.Pointer[unorderedSession]
}

// Setup starts the session's commit timer, and an unordered consumer's
// poll loop.
func (h *sourceHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.src.Sessions.Add(1)
	if h.unordered != nil {
		h.startUnordered(sess)
	}
	h.inFlight.Go(func() {
		tick := time.NewTicker(h.cfg.Consumer.CommitInterval)
		defer tick.Stop()
		for {
			select {
			case <-sess.Context().Done():
				return
			case <-tick.C:
				if h.crashed.Load() {
					return
				}
				sess.Commit()
			}
		}
	})
	return nil
}

// Cleanup commits what was delivered, as on revoke, unless the stand-in
// crashed.
func (h *sourceHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	if !h.crashed.Load() {
		sess.Commit()
	}
	return nil
}

// ConsumeClaim delivers one partition's records in order, one in flight,
// taking them in polls. When the session ends (a rebalance, a stop), the
// polled records not yet started are dropped and the one in flight goes on
// unmarked. An unordered consumer hands them to its poll loop instead.
func (h *sourceHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	if h.unordered != nil {
		return h.forward(sess, claim)
	}
	// The consumer polls at once when it starts, then on its timer.
	for started := false; ; started = true {
		batch := h.poll.take(sess.Context(), claim.Messages(), started)
		if batch == nil {
			return nil
		}
		for _, msg := range batch {
			if !h.dispatch(sess, msg) {
				return nil
			}
		}
	}
}

// dispatch delivers msg and marks it; it reports false when the session
// ended first, leaving the delivery to go on without it.
func (h *sourceHandler) dispatch(sess sarama.ConsumerGroupSession, msg *sarama.ConsumerMessage) bool {
	done := make(chan struct{})
	h.inFlight.Go(func() {
		defer close(done)
		h.deliver(msg)
	})
	select {
	case <-done:
		if h.life.Err() != nil {
			return false // cut off by a stop or crash: not delivered
		}
		sess.MarkMessage(msg, "")
		return true
	case <-sess.Context().Done():
		return false
	}
}

// deliver sends msg's event to the subscriber with the delivery's retries
// and, when they fail, to the dead-letter sink.
func (h *sourceHandler) deliver(msg *sarama.ConsumerMessage) {
	e := h.event(msg)
	ctx := h.life
	if tp, ok := recordTrace(msg); ok {
		ctx = withTraceparent(ctx, tp)
	}
	last, ok := h.send(ctx, h.cfg.Sink, e)
	switch {
	case ok:
		h.src.Delivered.Add(1)
	case ctx.Err() != nil:
	default:
		h.deadLetter(ctx, e, last)
	}
}

// poller is OrderedConsumerVerticle's poll loop for one consumer: polls at
// most every interval, each returning at most max records across the
// consumer's partitions.
type poller struct {
	interval time.Duration
	max      int

	mu    sync.Mutex
	start time.Time
	slot  int64 // the poll window the quota is for
	left  int   // records the poll of that window may still return
}

func newPoller(c Consumer) *poller {
	return &poller{interval: c.PollInterval, max: c.MaxPollRecords, start: time.Now(), slot: -1}
}

// take waits for the next poll (unless timer is false), then for a record (a poll in flight returns
// as soon as there is one), and returns it with those already fetched
// behind it, within the poll's quota. It returns nil when ctx ends or the
// claim is closed.
func (p *poller) take(ctx context.Context, msgs <-chan *sarama.ConsumerMessage, timer bool) []*sarama.ConsumerMessage {
	if timer && !p.sleep(ctx, p.untilNextPoll()) {
		return nil
	}
	var first *sarama.ConsumerMessage
	select {
	case <-ctx.Done():
		return nil
	case m, ok := <-msgs:
		if !ok {
			return nil
		}
		first = m
	}
	for {
		n, wait := p.reserve(1 + len(msgs))
		if n > 0 {
			batch := []*sarama.ConsumerMessage{first}
			for len(batch) < n {
				batch = append(batch, <-msgs)
			}
			return batch
		}
		if !p.sleep(ctx, wait) {
			return nil
		}
	}
}

// untilNextPoll is the wait until the poll timer next fires.
func (p *poller) untilNextPoll() time.Duration {
	if p.interval <= 0 {
		return 0
	}
	since := time.Since(p.start)
	return p.interval - since%p.interval
}

// reserve takes up to want records from the current poll's quota; when it
// is used up it returns 0 and the wait until the next poll.
func (p *poller) reserve(want int) (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.interval <= 0 {
		return want, 0
	}
	if slot := int64(time.Since(p.start) / p.interval); slot != p.slot {
		p.slot, p.left = slot, p.max
	}
	n := min(want, p.left)
	p.left -= n
	if n == 0 {
		return 0, p.untilNextPoll()
	}
	return n, 0
}

func (p *poller) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
