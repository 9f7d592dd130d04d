package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one request; i numbers the requests of a run from 0, and at is when
// it was due (its scheduled time in an open loop, its start in a closed
// one). It returns nil when the request succeeded.
type Op func(ctx context.Context, i int, at time.Time) error

// Counters are a run's live totals, read by progress lines while it runs.
type Counters struct {
	OK, Failed, Dropped atomic.Int64
}

// Result is a finished run: the latencies of the successful requests and
// how many failed or were dropped.
type Result struct {
	Latencies []time.Duration
	Failed    int
	Dropped   int
	Elapsed   time.Duration
	FirstErr  error
	// MaxStartLag is, in an open loop, the longest a request waited in the
	// client between its scheduled time and its start (it is part of its
	// latency): large values mean the client, not the server, fell behind.
	MaxStartLag time.Duration
}

// Summary summarises r (sorting its latencies).
func (r Result) Summary() Summary {
	return Summarize(r.Latencies, r.Failed, r.Dropped, r.Elapsed)
}

// recorder gathers the outcome of requests from many workers.
type recorder struct {
	mu       sync.Mutex
	res      Result
	counters *Counters
	lastEnd  time.Time
}

func newRecorder(c *Counters) *recorder {
	if c == nil {
		c = &Counters{}
	}
	return &recorder{counters: c}
}

// add merges what one worker saw, once it has finished at end.
func (r *recorder) add(w *worker, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Latencies = append(r.res.Latencies, w.lat...)
	r.res.Failed += w.failed
	r.res.Dropped += w.dropped
	if r.res.FirstErr == nil {
		r.res.FirstErr = w.firstErr
	}
	r.res.MaxStartLag = max(r.res.MaxStartLag, w.maxLag)
	if end.After(r.lastEnd) {
		r.lastEnd = end
	}
}

// worker is one goroutine's share of a run.
type worker struct {
	lat      []time.Duration
	failed   int
	dropped  int
	firstErr error
	maxLag   time.Duration
	counters *Counters
}

// do runs op and records its latency, measured from since.
func (w *worker) do(ctx context.Context, op Op, i int, since time.Time) {
	if err := op(ctx, i, since); err != nil {
		w.failed++
		if w.firstErr == nil {
			w.firstErr = err
		}
		w.counters.Failed.Add(1)
		return
	}
	w.lat = append(w.lat, time.Since(since))
	w.counters.OK.Add(1)
}

// Closed keeps Concurrency requests in flight for Duration or until MaxOps
// requests were started, whichever comes first. Latency is measured from
// each request's start.
type Closed struct {
	Concurrency int
	Duration    time.Duration
	MaxOps      int
}

// Run runs op in a closed loop. Requests under way at the deadline finish
// and count; ctx cancels the run.
func (c Closed) Run(ctx context.Context, op Op, counters *Counters) Result {
	rec := newRecorder(counters)
	start := time.Now()
	deadline := start.Add(c.Duration)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(c.Concurrency, 1) {
		wg.Go(func() {
			w := &worker{counters: rec.counters}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= c.MaxOps {
					break
				}
				w.do(ctx, op, i, time.Now())
			}
			rec.add(w, time.Now())
		})
	}
	wg.Wait()
	rec.res.Elapsed = rec.lastEnd.Sub(start)
	return rec.res
}

// Merge combines runs of the same requests (slices of one phase) into one:
// latencies and counts add up, and so do the elapsed times, so the rate is
// that of the time spent running.
func Merge(results ...Result) Result {
	var m Result
	for _, r := range results {
		m.Latencies = append(m.Latencies, r.Latencies...)
		m.Failed += r.Failed
		m.Dropped += r.Dropped
		m.Elapsed += r.Elapsed
		m.MaxStartLag = max(m.MaxStartLag, r.MaxStartLag)
		if m.FirstErr == nil {
			m.FirstErr = r.FirstErr
		}
	}
	return m
}
