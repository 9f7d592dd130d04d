package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
)

// stuckSender stands in for the producer while the broker is down: no
// send completes until release is closed, as sarama's retries do.
type stuckSender struct {
	release chan struct{}
	running atomic.Int64
	peak    atomic.Int64
	sends   atomic.Int64
}

func (s *stuckSender) Send(_ context.Context, _ *event.Event, done func(error)) error {
	s.sends.Add(1)
	n := s.running.Add(1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	go func() {
		<-s.release
		s.running.Add(-1)
		done(errors.New("kafka: client has run out of available brokers"))
	}()
	return nil
}

func (s *stuckSender) Close() error { return nil }

// quietClient is a sarama client with nothing to close.
type quietClient struct{ sarama.Client }

func (quietClient) Close() error { return nil }

// TestKafkaSendsAreBounded: with the broker down, each request gives up at
// its deadline (503) while its send goes on; no more than maxSends sends
// are ever under way, later requests fail without starting one, and Close
// waits for the stragglers. It runs in a bubble (testing/synctest), so
// Close is looked at only once it can go no further.
func TestKafkaSendsAreBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		stuck := &stuckSender{release: make(chan struct{})}
		k := &kafkaSender{log: slog.New(slog.NewTextHandler(io.Discard, nil)), topic: "t", stop: func() {},
			done: make(chan struct{}), slots: make(chan struct{}, maxSends)}
		close(k.done)
		k.conn.Store(&kafkaConn{client: quietClient{}, sender: stuck})
		e := event.New()
		e.SetID("p-1")
		requests := 3 * maxSends
		errs := make(chan error, requests)
		for range requests {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				errs <- k.Send(ctx, e)
			}()
		}
		for i := range requests {
			if err := <-errs; !errors.Is(err, errNotDelivered) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("request %d: got %v, want not delivered at the deadline", i, err)
			}
		}
		if got := stuck.peak.Load(); got > maxSends {
			t.Errorf("sends under way at once: got %d, want at most %d", got, maxSends)
		}
		// A request whose deadline passed before it ran may give up without a
		// slot, so fewer may start; never more.
		if got := stuck.sends.Load(); got > maxSends || got == 0 {
			t.Errorf("sends started for %d requests: got %d, want 1 to %d (the rest wait for a slot, then give up)", requests, got, maxSends)
		}
		closed := make(chan error, 1)
		go func() { closed <- k.Close() }()
		synctest.Wait() // Close has gone as far as it can
		select {
		case <-closed:
			t.Error("Close returned while sends were still under way")
		default:
		}
		close(stuck.release)
		if err := <-closed; err != nil {
			t.Errorf("Close: got %v, want nil", err)
		}
		if got := stuck.running.Load(); got != 0 {
			t.Errorf("after Close: %d sends still under way, want 0", got)
		}
	})
}
