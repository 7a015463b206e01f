package main

import (
	"time"

	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
)

// cpuMeter measures the process's CPU time (user + system) over an
// interval; ok is false where the platform does not report it.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, err := benchproc.SelfCPU()
	return cpuMeter{start: t, ok: err == nil}
}

// perMillion returns the CPU-seconds spent since start per million units
// (records), or -1 when unknown.
func (c cpuMeter) perMillion(units float64) float64 {
	end, err := benchproc.SelfCPU()
	if !c.ok || err != nil || units <= 0 {
		return -1
	}
	return (end - c.start).Seconds() / units * 1e6
}
