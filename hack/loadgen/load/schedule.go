package load

import "time"

// Schedule is an open loop's timetable: request i is due at
// Start + i/Rate, for i in [0, Total).
type Schedule struct {
	Start time.Time
	Rate  float64 // requests per second, > 0
	Total int
}

// NewSchedule plans rate requests per second for d from start.
func NewSchedule(start time.Time, rate float64, d time.Duration) Schedule {
	return Schedule{Start: start, Rate: rate, Total: int(rate * d.Seconds())}
}

// At is when request i is due.
func (s Schedule) At(i int) time.Time {
	return s.Start.Add(time.Duration(float64(i) * float64(time.Second) / s.Rate))
}

// Due is how many requests are due at now: the count of i with At(i) <= now,
// at most Total. It agrees with At exactly, whatever the rounding.
func (s Schedule) Due(now time.Time) int {
	elapsed := now.Sub(s.Start)
	if elapsed < 0 || s.Total == 0 {
		return 0
	}
	n := min(int(elapsed.Seconds()*s.Rate)+1, s.Total)
	for n < s.Total && !s.At(n).After(now) {
		n++
	}
	for n > 0 && s.At(n-1).After(now) {
		n--
	}
	return n
}
