package load

import (
	"context"
	"sync"
	"time"
)

// Open issues requests at a fixed Rate for Duration, whatever the answers
// do (an open loop), from a pool of Workers goroutines. Each request's
// latency is measured from its scheduled time, so time spent waiting for a
// free worker counts (no coordinated omission). A request that finds Queue
// requests already waiting is dropped and counted: the client fell behind.
type Open struct {
	Rate     float64 // requests per second, > 0
	Duration time.Duration
	Workers  int
	Queue    int // 0 = one second's worth of requests
}

// Run runs op in an open loop. Requests under way at the end finish and
// count; when ctx ends, requests not yet started are dropped.
func (o Open) Run(ctx context.Context, op Op, counters *Counters) Result {
	rec := newRecorder(counters)
	queue := o.Queue
	if queue <= 0 {
		queue = max(o.Workers, int(o.Rate))
	}
	sched := NewSchedule(time.Now().Add(5*time.Millisecond), o.Rate, o.Duration)
	jobs := make(chan int, queue)
	var wg sync.WaitGroup
	for range max(o.Workers, 1) {
		wg.Go(func() {
			w := &worker{counters: rec.counters}
			for i := range jobs {
				at := sched.At(i)
				if ctx.Err() != nil {
					w.dropped++
					rec.counters.Dropped.Add(1)
					continue
				}
				w.maxLag = max(w.maxLag, time.Since(at))
				w.do(ctx, op, i, at)
			}
			rec.add(w, time.Now())
		})
	}
	dropped := dispatch(ctx, sched, jobs, rec.counters)
	close(jobs)
	wg.Wait()
	rec.res.Dropped += dropped
	rec.res.Elapsed = max(rec.lastEnd.Sub(sched.Start), 0)
	return rec.res
}

// dispatch hands each request to the workers once it is due, and returns
// how many it had to drop (queue full, or ctx ended).
func dispatch(ctx context.Context, sched Schedule, jobs chan<- int, c *Counters) int {
	dropped := 0
	next := 0
	for next < sched.Total && ctx.Err() == nil {
		for due := sched.Due(time.Now()); next < due; next++ {
			select {
			case jobs <- next:
			default:
				dropped++
				c.Dropped.Add(1)
			}
		}
		if next < sched.Total {
			sleepUntil(ctx, sched.At(next))
		}
	}
	c.Dropped.Add(int64(sched.Total - next))
	return dropped + sched.Total - next
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
