package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// runner is a closed or an open loop.
type runner interface {
	Run(ctx context.Context, op load.Op, c *load.Counters) load.Result
}

// phaseDetail is what the JSON keeps of one phase.
type phaseDetail struct {
	load.Summary
	MaxStartLag time.Duration `json:"max_client_start_lag_ns,omitempty"`
	FirstErr    string        `json:"first_error,omitempty"`
}

// outcome is a phase's summary and how late, at worst, the client started
// a request (open loops only).
type outcome struct {
	load.Summary
	lag time.Duration
}

// phase runs op under r with progress lines, then logs and keeps its
// summary under key.
func (b *bench) phase(ctx context.Context, key, desc string, r runner, op load.Op) outcome {
	return b.compare(ctx, key, desc, []runner{r}, op, "", nil)[0]
}

// compare runs the reference op ref and the op under test got in
// alternating slices (ref, got, ref, got, ...), so that both see the same
// background, and keeps and returns their merged outcomes: ref's first.
// With got nil, it runs ref alone.
func (b *bench) compare(ctx context.Context, key, desc string, parts []runner, ref load.Op, gotKey string, got load.Op) []outcome {
	ops, keys := []load.Op{ref}, []string{key}
	if got != nil {
		ops, keys = append(ops, got), append(keys, gotKey)
	}
	if len(parts) > 1 {
		desc += fmt.Sprintf(", in %d alternating slices", len(parts))
	}
	b.logf("  %s: %s", strings.Join(keys, " vs "), desc)
	results := make([][]load.Result, len(ops))
	var counters [2]load.Counters
	start := time.Now()
	stop := b.every(strings.Join(keys, " vs "), func() string {
		el := time.Since(start).Seconds()
		line := fmt.Sprintf("%3.0f s:", el)
		for i, k := range keys {
			c := &counters[i]
			line += fmt.Sprintf(" %s %d ok, %d failed, %d dropped;", k, c.OK.Load(), c.Failed.Load(), c.Dropped.Load())
		}
		return line
	})
	for _, r := range parts {
		for i, op := range ops {
			if ctx.Err() == nil {
				results[i] = append(results[i], r.Run(ctx, op, &counters[i]))
			}
		}
	}
	stop()
	out := make([]outcome, len(ops))
	for i, k := range keys {
		out[i] = b.keep(k, load.Merge(results[i]...))
	}
	return out
}

// keep logs a merged result and keeps it in the report under key.
func (b *bench) keep(key string, res load.Result) outcome {
	s := res.Summary()
	d := phaseDetail{Summary: s, MaxStartLag: res.MaxStartLag}
	if res.FirstErr != nil {
		d.FirstErr = res.FirstErr.Error()
		b.logf("  %s: first error: %v", key, res.FirstErr)
	}
	b.report.detail(key, d)
	b.logf("  %s: %d ok at %.0f/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms, %d failed, %d dropped",
		key, s.OK, s.Rate, millis(s.P50), millis(s.P99), millis(s.P999), millis(s.Max), s.Failed, s.Dropped)
	return outcome{s, res.MaxStartLag}
}

// sliced is n copies of r, for compare.
func sliced(n int, r runner) []runner {
	out := make([]runner, max(n, 1))
	for i := range out {
		out[i] = r
	}
	return out
}

// losses names the failed and dropped requests of s, if any, for a figure.
func losses(s load.Summary) string {
	if s.Failed == 0 && s.Dropped == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d failed, %d dropped)", s.Failed, s.Dropped)
}
