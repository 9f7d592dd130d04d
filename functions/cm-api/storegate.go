package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// storeGate lets POST / answer 503 at once while the store is known to be
// down, instead of after MONGODB_TIMEOUT. cm-api stays in service during a
// store outage (its probed readiness does not fail on it), so a
// KafkaSource's retries reach it and get a fast 503, and the source's
// retry budget is its waits: were cm-api taken out of service, Knative
// would hold each attempt in the activator until the attempt's timeout.
//
// The gate closes when a ping of the store fails or a write fails for a
// transient reason. Pings run in the background, one at a time: each probe
// of the public readiness starts one (and does not wait for it: a probe that
// waited for a store that does not answer would time out, and Knative would
// take cm-api out of service after all), and so does each request the
// closed gate turns away, so it opens as soon as the store answers again.
type storeGate struct {
	ctx     context.Context // the function's: pings end with it
	log     *slog.Logger
	ping    func(context.Context) error
	timeout time.Duration // of one background ping

	down     atomic.Bool
	checking atomic.Bool
}

func newStoreGate(ctx context.Context, log *slog.Logger, ping func(context.Context) error) *storeGate {
	return &storeGate{ctx: ctx, log: log, ping: ping, timeout: 2 * time.Second}
}

// Ping pings the store and closes or opens the gate by the outcome.
func (g *storeGate) Ping(ctx context.Context) error {
	err := g.ping(ctx)
	g.set(err != nil)
	return err
}

// Failed closes the gate after a write failed for a transient reason: the
// next request starts a ping, which opens it again if the store answers.
func (g *storeGate) Failed() {
	if g != nil {
		g.set(true)
	}
}

// Closed reports whether the store is known to be down; a nil gate never
// is. While it is, it starts a background ping.
func (g *storeGate) Closed() bool {
	if g == nil || !g.down.Load() {
		return false
	}
	g.Refresh()
	return true
}

// Refresh starts a background ping unless one is under way.
func (g *storeGate) Refresh() {
	if !g.checking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer g.checking.Store(false)
		ctx, cancel := context.WithTimeout(g.ctx, g.timeout)
		defer cancel()
		err := g.ping(ctx)
		if g.ctx.Err() == nil { // a ping cut short by shutdown says nothing of the store
			g.set(err != nil)
		}
	}()
}

// set records the store's state and logs when it changes.
func (g *storeGate) set(down bool) {
	if g.down.Swap(down) == down {
		return
	}
	if down {
		g.log.Warn("purchase store unavailable: POST / answers 503 until it is back")
		return
	}
	g.log.Info("purchase store available again")
}
