package main

import "fmt"

// Section 1's table: the limits the later sections are compared with.

func (r *report) limitsTable() *table {
	t := &table{title: "1. Limits of this machine (same run)",
		header: []string{"limit", "median (min–max)", "CPU-s/1M rec", "tier", "how"}}
	s := r.Sync
	how := fmt.Sprintf("%d × (4 KiB write + %s) per run", s.Samples, s.Call)
	t.row("(a) disk sync, appending: p50", msSpread(s.AppendP50Ms), "", "the flush itself", how+", each write a new block")
	t.row("    appending: p99", msSpread(s.AppendP99Ms), "", "", "")
	t.row("    in place: p50", msSpread(s.InPlaceP50Ms), "", "", how+", rewriting 16 blocks in turn")
	t.row("    in place: p99", msSpread(s.InPlaceP99Ms), "", "", "")
	raw := r.Raw
	t.row("(b) raw bbolt puts", rateSpread(raw.PutRate), cpuStr(raw.PutCPU), tierFsync,
		fmt.Sprintf("%s puts per run, %d per db.Update, 8-byte big-endian keys, default bbolt.Options", count(raw.Records), raw.PerTxn))
	z := r.Zstd
	t.row("(c) zstd compress", numSpread(z.MBps, "%.0f")+" MB/s", cpuStr(z.CPU), "memory only",
		fmt.Sprintf("%s on 1 MiB chunks of records; output %.3f of input", z.Level, z.Ratio.Median))
	t.row("    same, in records", rateSpread(z.RecPerSec), "", "", "MB/s over the mean record size")
	t.note("bbolt syncs twice per commit (pages, then meta page): a commit takes at least ~%s (2 × appending p50), so one committer makes at most ~%.0f commits/s",
		msStr(2*s.AppendP50Ms.Median), 1000/(2*s.AppendP50Ms.Median))
	t.note("the spool compresses a commit's partitions in parallel, up to GOMAXPROCS: (c) in records/s is what one core encodes")
	return t
}
