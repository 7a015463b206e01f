package main

import (
	"fmt"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// Section 1's table: the limits the later sections are compared with.

func (r *report) limitsTable() *figure.Table {
	t := &figure.Table{Title: "1. Limits of this machine (same run)",
		Header: []string{"limit", "median (min–max)", "CPU-s/1M rec", "tier", "how"}}
	s := r.Sync
	how := fmt.Sprintf("%d × (4 KiB write + %s) per run", s.Samples, s.Call)
	t.Row("(a) disk sync, appending: p50", figure.MsSpread(s.AppendP50Ms), "", "the flush itself", how+", each write a new block")
	t.Row("    appending: p99", figure.MsSpread(s.AppendP99Ms), "", "", "")
	t.Row("    in place: p50", figure.MsSpread(s.InPlaceP50Ms), "", "", how+", rewriting 16 blocks in turn")
	t.Row("    in place: p99", figure.MsSpread(s.InPlaceP99Ms), "", "", "")
	raw := r.Raw
	t.Row("(b) raw bbolt puts", figure.RateSpread(raw.PutRate), cpuStr(raw.PutCPU), tierFsync,
		fmt.Sprintf("%s puts per run, %d per db.Update, 8-byte big-endian keys, default bbolt.Options", count(raw.Records), raw.PerTxn))
	z := r.Zstd
	t.Row("(c) zstd compress", figure.NumSpread(z.MBps, "%.0f")+" MB/s", cpuStr(z.CPU), "memory only",
		fmt.Sprintf("%s on 1 MiB chunks of records; output %.3f of input", z.Level, z.Ratio.Median))
	t.Row("    same, in records", figure.RateSpread(z.RecPerSec), "", "", "MB/s over the mean record size")
	t.Note("bbolt syncs twice per commit (pages, then meta page): a commit takes at least ~%s (2 × appending p50), so one committer makes at most ~%.0f commits/s",
		figure.MsStr(2*s.AppendP50Ms.Median), 1000/(2*s.AppendP50Ms.Median))
	t.Note("the spool compresses a commit's partitions in parallel, up to GOMAXPROCS: (c) in records/s is what one core encodes")
	return t
}
