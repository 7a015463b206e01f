package main

import (
	"slices"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

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
		times = append(times, figure.Ms(elapsed))
	}
	slices.Sort(times)
	return figure.Median(times), nil
}
