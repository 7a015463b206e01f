package main

import (
	"slices"
	"time"
)

// spread is a figure over repeated runs: the median and the range.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"`
}

// spreadOf summarises the runs' values; no values gives a zero spread.
func spreadOf(vals []float64) spread {
	if len(vals) == 0 {
		return spread{}
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	return spread{Median: median(s), Min: s[0], Max: s[len(s)-1], Runs: len(s)}
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of sorted durations, exact: the smallest sample with at least
// q of all samples at or below it (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// opensPerRun is how many opens the open-time figures take the median of.
const opensPerRun = 5

// medianOpen times open opensPerRun times, closing after each (untimed),
// and returns the median in milliseconds.
func medianOpen(open func() (closeFn func() error, err error)) (float64, error) {
	times := make([]float64, 0, opensPerRun)
	for range opensPerRun {
		began := time.Now()
		closeFn, err := open()
		elapsed := time.Since(began)
		if err != nil {
			return 0, err
		}
		if err := closeFn(); err != nil {
			return 0, err
		}
		times = append(times, ms(elapsed))
	}
	slices.Sort(times)
	return median(times), nil
}
