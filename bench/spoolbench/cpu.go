package main

import "time"

// cpuMeter measures the process's CPU time (user + system) over an
// interval; ok is false where the platform does not report it.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{start: t, ok: ok}
}

// perMillion returns the CPU-seconds spent since start per million units
// (records), or -1 when unknown.
func (c cpuMeter) perMillion(units float64) float64 {
	end, ok := processCPU()
	if !c.ok || !ok || units <= 0 {
		return -1
	}
	return (end - c.start).Seconds() / units * 1e6
}
