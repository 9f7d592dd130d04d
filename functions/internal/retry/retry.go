// Package retry runs an operation until it succeeds or its context ends, with
// capped, jittered exponential backoff (github.com/cenkalti/backoff/v5). Every
// retry loop of the functions uses it, so pods restarting together do not
// retry in step.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy is how long to wait between attempts: First before the second
// attempt, then doubling up to Max, each wait jittered by ±Jitter.
type Policy struct {
	First, Max time.Duration
	Jitter     float64 // 0..1; 0.5 spreads a wait over [0.5w, 1.5w]
}

// Dependency is how the functions retry reaching Kafka or MongoDB.
var Dependency = Policy{First: 250 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}

// Notify is told of each failed attempt (counting from 1), its error and the
// wait before the next one.
type Notify func(attempt int, err error, wait time.Duration)

// Forever calls op until it returns nil, and returns nil, or until ctx ends,
// and returns ctx's cause. Callers that need a bound put it in ctx.
func Forever(ctx context.Context, p Policy, op func() error, notify Notify) error {
	b := &backoff.ExponentialBackOff{InitialInterval: p.First, RandomizationFactor: p.Jitter,
		Multiplier: 2, MaxInterval: p.Max}
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, op() },
		backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			attempt++
			if notify != nil {
				notify(attempt, err, wait)
			}
		}))
	return err
}
