package load

import (
	"context"
	"errors"
	"testing"
	"time"
)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentile(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(float64(i + 1))
	}
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Microsecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty_is_zero", nil, 99, 0},
		{"one_value_is_every_percentile", []time.Duration{ms(7)}, 50, ms(7)},
		{"p50_of_1_to_100_is_50", hundred, 50, ms(50)},
		{"p99_of_1_to_100_is_99", hundred, 99, ms(99)},
		{"p100_is_max", hundred, 100, ms(100)},
		{"p99_9_of_100_is_max", hundred, 99.9, ms(100)},
		{"p99_9_of_1000_is_999th", thousand, 99.9, 999 * time.Microsecond},
		{"p50_of_two_is_lower", []time.Duration{ms(1), ms(2)}, 50, ms(1)},
		{"tiny_p_is_min", hundred, 0.001, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize_sorts_and_counts(t *testing.T) {
	t.Parallel()
	s := Summarize([]time.Duration{ms(3), ms(1), ms(2), ms(4)}, 1, 2, 2*time.Second)
	want := Summary{OK: 4, Failed: 1, Dropped: 2, Elapsed: 2 * time.Second, Rate: 2,
		P50: ms(2), P99: ms(4), P999: ms(4), Max: ms(4), Mean: ms(2.5)}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	tests := []struct {
		name     string
		rate     float64
		d        time.Duration
		wantN    int
		i        int
		wantAt   time.Duration // after start
		now      time.Duration // after start
		wantDue  int
		describe string
	}{
		{name: "1k_per_s_is_1ms_apart", rate: 1000, d: time.Second, wantN: 1000, i: 3, wantAt: 3 * time.Millisecond,
			now: 3 * time.Millisecond, wantDue: 4},
		{name: "5k_per_s_is_200us_apart", rate: 5000, d: 2 * time.Second, wantN: 10000, i: 7, wantAt: 1400 * time.Microsecond,
			now: 1399 * time.Microsecond, wantDue: 7},
		{name: "before_start_nothing_due", rate: 1000, d: time.Second, wantN: 1000, i: 0, wantAt: 0,
			now: -time.Millisecond, wantDue: 0},
		{name: "at_start_first_due", rate: 1000, d: time.Second, wantN: 1000, i: 0, wantAt: 0,
			now: 0, wantDue: 1},
		{name: "after_end_all_due", rate: 1000, d: time.Second, wantN: 1000, i: 999, wantAt: 999 * time.Millisecond,
			now: time.Hour, wantDue: 1000},
		{name: "third_rate_rounds_consistently", rate: 3, d: 10 * time.Second, wantN: 30, i: 1, wantAt: 333333333,
			now: 333333333, wantDue: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewSchedule(start, tt.rate, tt.d)
			if s.Total != tt.wantN {
				t.Errorf("Total = %d, want %d", s.Total, tt.wantN)
			}
			if got := s.At(tt.i).Sub(start); got != tt.wantAt {
				t.Errorf("At(%d) = start+%v, want start+%v", tt.i, got, tt.wantAt)
			}
			if got := s.Due(start.Add(tt.now)); got != tt.wantDue {
				t.Errorf("Due(start+%v) = %d, want %d", tt.now, got, tt.wantDue)
			}
		})
	}
}

func TestSchedule_due_agrees_with_at(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	for _, rate := range []float64{1, 3, 7, 999, 1000, 4999, 5000} {
		s := NewSchedule(start, rate, 3*time.Second)
		for i := range s.Total {
			at := s.At(i)
			if got := s.Due(at); got != i+1 {
				t.Fatalf("rate %v: Due(At(%d)) = %d, want %d", rate, i, got, i+1)
			}
			if got := s.Due(at.Add(-time.Nanosecond)); got != i {
				t.Fatalf("rate %v: Due(At(%d)-1ns) = %d, want %d", rate, i, got, i)
			}
		}
	}
}

func TestClosed_stops_at_max_ops_and_counts_failures(t *testing.T) {
	t.Parallel()
	errOdd := errors.New("odd")
	var c Counters
	res := Closed{Concurrency: 4, Duration: time.Minute, MaxOps: 100}.Run(context.Background(),
		func(_ context.Context, i int, _ time.Time) error {
			if i%2 == 1 {
				return errOdd
			}
			return nil
		}, &c)
	if len(res.Latencies) != 50 || res.Failed != 50 || !errors.Is(res.FirstErr, errOdd) {
		t.Errorf("got %d ok, %d failed, first error %v; want 50, 50, odd", len(res.Latencies), res.Failed, res.FirstErr)
	}
	if c.OK.Load() != 50 || c.Failed.Load() != 50 {
		t.Errorf("counters: got %d ok, %d failed, want 50, 50", c.OK.Load(), c.Failed.Load())
	}
}

func TestOpen_issues_every_scheduled_request(t *testing.T) {
	t.Parallel()
	res := Open{Rate: 2000, Duration: 100 * time.Millisecond, Workers: 8}.Run(context.Background(),
		func(context.Context, int, time.Time) error { return nil }, nil)
	if len(res.Latencies)+res.Dropped != 200 || res.Failed != 0 {
		t.Errorf("got %d ok + %d dropped, %d failed; want 200 in all, 0 failed", len(res.Latencies), res.Dropped, res.Failed)
	}
}

func TestOpen_drops_what_the_client_cannot_queue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	res := Open{Rate: 1000, Duration: 100 * time.Millisecond, Workers: 1, Queue: 5}.Run(context.Background(),
		func(context.Context, int, time.Time) error { <-release; return nil }, nil)
	// One request in the worker, five queued (six if the worker took its
	// first late): the others find the queue full.
	if ok := len(res.Latencies); ok+res.Dropped != 100 || ok < 6 || ok > 7 {
		t.Errorf("got %d ok, %d dropped; want 6 or 7 ok, the rest of 100 dropped", ok, res.Dropped)
	}
	// The queued requests waited for the blocked one: their latency shows it.
	if s := res.Summary(); s.Max < 90*time.Millisecond {
		t.Errorf("max latency %v, want >= 90ms (time queued behind a slow request counts)", s.Max)
	}
}

func TestMerge_adds_up_slices(t *testing.T) {
	t.Parallel()
	errA := errors.New("a")
	m := Merge(
		Result{Latencies: []time.Duration{ms(1), ms(2)}, Failed: 1, Elapsed: time.Second, MaxStartLag: ms(3), FirstErr: errA},
		Result{Latencies: []time.Duration{ms(3)}, Dropped: 2, Elapsed: time.Second, MaxStartLag: ms(1)},
	)
	s := m.Summary()
	if s.OK != 3 || s.Failed != 1 || s.Dropped != 2 || s.Elapsed != 2*time.Second || s.Rate != 1.5 ||
		m.MaxStartLag != ms(3) || !errors.Is(m.FirstErr, errA) {
		t.Errorf("got %+v (lag %v, err %v), want 3 ok, 1 failed, 2 dropped over 2s, lag 3ms, error a", s, m.MaxStartLag, m.FirstErr)
	}
}
