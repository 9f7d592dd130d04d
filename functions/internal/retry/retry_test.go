package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/retry"
)

var fast = retry.Policy{First: time.Millisecond, Max: 4 * time.Millisecond, Jitter: 0.5}

func TestForever_retriesUntilSuccessAndTellsEachFailure(t *testing.T) {
	t.Parallel()
	calls := 0
	var told []int
	var waits []time.Duration
	err := retry.Forever(context.Background(), fast, func() error {
		calls++
		if calls < 6 {
			return errors.New("not yet")
		}
		return nil
	}, func(attempt int, err error, wait time.Duration) {
		told = append(told, attempt)
		waits = append(waits, wait)
	})
	if err != nil || calls != 6 {
		t.Fatalf("got %v after %d calls, want nil after 6", err, calls)
	}
	if len(told) != 5 || told[0] != 1 || told[4] != 5 {
		t.Errorf("notified attempts: got %v, want 1..5", told)
	}
	for _, w := range waits {
		// Capped at Max plus its jitter.
		if w <= 0 || w > 6*time.Millisecond {
			t.Errorf("wait %v: want within (0, 6ms]", w)
		}
	}
}

func TestForever_stopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("shutting down")
	calls := 0
	err := retry.Forever(ctx, fast, func() error {
		calls++
		if calls == 3 {
			cancel(stop)
		}
		return errors.New("down")
	}, nil)
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("got %v after %d calls, want the context's cause after 3", err, calls)
	}
}
