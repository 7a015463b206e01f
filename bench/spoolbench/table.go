package main

import (
	"fmt"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// cpuStr formats CPU-seconds per million records, or n/a.
func cpuStr(s figure.Spread) string {
	if s.Runs == 0 || s.Median < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", s.Median)
}

// mib formats a byte count.
func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }
