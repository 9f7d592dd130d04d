// Package load drives requests at a fixed concurrency (closed loop) or at
// fixed arrival rates (open loop, latency measured from the scheduled time so
// that a slow answer cannot hide the requests it delayed) and summarises
// their latencies.
package load

import (
	"math"
	"slices"
	"time"
)

// Summary is what one run of requests amounts to.
type Summary struct {
	OK      int           `json:"ok"`
	Failed  int           `json:"failed"`
	Dropped int           `json:"dropped"` // open loop: requests the client could not even start
	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"rate_per_s"` // successful requests per second of Elapsed
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	P999    time.Duration `json:"p999_ns"`
	Max     time.Duration `json:"max_ns"`
	Mean    time.Duration `json:"mean_ns"`
}

// Summarize computes the summary of latencies (it sorts them in place).
func Summarize(latencies []time.Duration, failed, dropped int, elapsed time.Duration) Summary {
	slices.Sort(latencies)
	s := Summary{OK: len(latencies), Failed: failed, Dropped: dropped, Elapsed: elapsed,
		P50: Percentile(latencies, 50), P99: Percentile(latencies, 99), P999: Percentile(latencies, 99.9)}
	if n := len(latencies); n > 0 {
		s.Max = latencies[n-1]
		var sum time.Duration
		for _, l := range latencies {
			sum += l
		}
		s.Mean = sum / time.Duration(n)
	}
	if elapsed > 0 {
		s.Rate = float64(s.OK) / elapsed.Seconds()
	}
	return s
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted:
// the smallest value such that at least p% of the values are at most it.
// It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps 99.9% of 1000 at rank 999 despite 0.999*1000 being 999.0000000000001.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
