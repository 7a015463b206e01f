package main

import (
	"fmt"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// The targets, one per section 2 to 6.

const (
	targetAsyncVsRaw   = 1.0  // async 256 producers ÷ raw bbolt put rate, at least
	targetP99Ms        = 5.0  // commit latency p99 at the fixed load, at most
	targetWritePerByte = 0.5  // bytes written per payload byte, at most
	targetReadPerS     = 1e6  // replay records/s, at least
	targetOpenMs       = 1000 // open with the records stored, below
)

// verdicts judges every target whose section ran.
func (r *report) verdicts() []figure.Verdict {
	var out []figure.Verdict
	if tp := r.Throughput; tp != nil {
		row, raw := tp.row(true, 256), r.rawRate()
		v := -1.0
		if raw > 0 {
			v = row.Rate.Median / raw
		}
		out = append(out, figure.Judge(2, fmt.Sprintf("async, 256 producers ≥ %.1f× raw bbolt puts", targetAsyncVsRaw), v, v >= 0, v >= targetAsyncVsRaw,
			fmt.Sprintf("%s vs %s = %s", figure.Rate(row.Rate.Median), figure.Rate(raw), figure.Ratio(row.Rate.Median, raw))))
	}
	if l := r.Latency; l != nil {
		out = append(out, figure.Judge(3, fmt.Sprintf("p99 ≤ %.0f ms at %d records/s", targetP99Ms, l.OfferedPerS), l.P99Ms.Median, true,
			l.P99Ms.Median <= targetP99Ms, "p99 "+figure.MsStr(l.P99Ms.Median)))
	}
	return append(out, r.volumeVerdicts()...)
}

func (r *report) volumeVerdicts() []figure.Verdict {
	v := r.Volume
	if v == nil {
		return nil
	}
	var out []figure.Verdict
	if r.has(4) {
		known := v.WrittenPerByte.Runs > 0
		res := "n/a (needs Linux /proc/self/io)"
		if known {
			res = fmt.Sprintf("%.3f bytes written per payload byte", v.WrittenPerByte.Median)
		}
		out = append(out, figure.Judge(4, fmt.Sprintf("bytes written per payload byte ≤ %.1f", targetWritePerByte), v.WrittenPerByte.Median,
			known, v.WrittenPerByte.Median <= targetWritePerByte, res))
	}
	if r.has(5) {
		out = append(out, figure.Judge(5, "sequential read+decode ≥ 1M records/s", v.ReadRate.Median, true,
			v.ReadRate.Median >= targetReadPerS, figure.Rate(v.ReadRate.Median)))
	}
	if r.has(6) {
		out = append(out, figure.Judge(6, fmt.Sprintf("open with %s records stored < 1 s", count(v.Records)), v.OpenMs.Median, true,
			v.OpenMs.Median < targetOpenMs, figure.MsStr(v.OpenMs.Median)))
	}
	return out
}

// count formats a record count: 1M, 200k.
func count(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dM", n/1e6)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%dk", n/1e3)
	}
	return fmt.Sprint(n)
}
