package main

import (
	"fmt"
	"io"
	"runtime"
)

// The tables of sections 4, 5 and 6.

func (r *report) volumeTables() []*table {
	var out []*table
	for _, s := range []struct {
		n     int
		table func() *table
	}{{4, r.writeTable}, {5, r.readTable}, {6, r.openTable}} {
		if r.has(s.n) {
			out = append(out, s.table())
		}
	}
	return out
}

// noteVerdict adds section n's verdict to t.
func (r *report) noteVerdict(t *table, n int) {
	for _, v := range r.verdicts() {
		if v.Section == n {
			t.note("%s", v.line())
		}
	}
}

func (r *report) writeTable() *table {
	v := r.Volume
	t := &table{title: "4. Bytes written per payload byte",
		header: []string{"system", "written / payload byte", "stored / payload byte", "written / stored", "records/s while filling", "CPU-s/1M rec", "tier"}}
	if v.WrittenPerByte.Runs == 0 {
		t.row("spool", "n/a", "", "", "", "", tierFsync)
		t.note("needs /proc/self/io (Linux); this is %s", runtime.GOOS)
		return t
	}
	t.row(fmt.Sprintf("spool (async, %d producers)", v.Producers), numSpread(v.WrittenPerByte, "%.3f"),
		fmt.Sprintf("%.3f", v.StoredPerByte.Median), ratio(v.WrittenPerByte.Median, v.StoredPerByte.Median),
		rateSpread(v.FillRate), cpuStr(v.FillCPU), tierFsync)
	if raw := r.Raw; raw != nil && raw.WrittenPerByte.Runs > 0 {
		t.row(fmt.Sprintf("raw bbolt Put, %d/txn (1b)", raw.PerTxn), numSpread(raw.WrittenPerByte, "%.3f"),
			"1.000", ratio(raw.WrittenPerByte.Median, 1), rateSpread(raw.PutRate), cpuStr(raw.PutCPU), tierFsync)
		t.note("spool / raw bbolt: %s", ratio(v.WrittenPerByte.Median, raw.WrittenPerByte.Median))
	}
	if v.ProbeAppended.Runs > 0 {
		t.row("diagnostic: bbolt, 1 value/partition/commit", "", "", numSpread(v.ProbeAppended, "%.2f")+"×", "", "", tierFsync)
		t.row("  same values, each in its own sub-bucket", "", "", numSpread(v.ProbeAlone, "%.2f")+"×", "", "", tierFsync)
		t.note("diagnostic rows: raw bbolt, %d commits each putting one incompressible value of the spool's mean batch size (%.0f B) into each of %d partition buckets; written / value bytes",
			probeCommits, v.MeanBatchBytes.Median, partitions)
	}
	t.note("%s records each; payload = key + value (spool: device id + JSON; raw bbolt: 8-byte key + the same JSON)", count(v.Records))
	t.note("stored = the batches' bytes as the spool counts them (zstd-compressed, with headers); raw bbolt stores values as they are")
	t.note("written = write_bytes of /proc/self/io: page-cache bytes the process dirtied, in whole 4 KiB pages; the filesystem journal and the device below are not counted")
	r.noteVerdict(t, 4)
	return t
}

// payloadPerRecord is the mean key and value size.
func (r *report) payloadPerRecord() (key, value float64) {
	return r.Settings.MeanKey, r.Settings.MeanPayload - r.Settings.MeanKey
}

func (r *report) readTable() *table {
	v := r.Volume
	t := &table{title: "5. Sequential read / replay",
		header: []string{"system", "records/s median (min–max)", "payload MB/s", "CPU-s/1M rec", "vs raw bbolt scan", "tier"}}
	rawScan := -1.0
	if r.Raw != nil {
		rawScan = r.Raw.ScanRate.Median
	}
	t.row("spool Read (1 MiB) + Entry.Records()", rateSpread(v.ReadRate), fmt.Sprintf("%.0f", v.ReadRate.Median*r.Settings.MeanPayload/1e6),
		cpuStr(v.ReadCPU), ratio(v.ReadRate.Median, rawScan), tierFsync+" (data written so)")
	if raw := r.Raw; raw != nil {
		_, values := r.payloadPerRecord()
		t.row("raw bbolt cursor scan (1b)", rateSpread(raw.ScanRate), fmt.Sprintf("%.0f", raw.ScanRate.Median*(8+values)/1e6),
			cpuStr(raw.ScanCPU), "1.00×", tierFsync+" (data written so)")
	}
	t.note("%s records, every partition from offset 0, each batch CRC-checked, decompressed and decoded into records; the file is in the page cache (just written)", count(v.Records))
	t.note("the raw scan only touches each value: no checksum, no decompression, no decoding")
	r.noteVerdict(t, 5)
	return t
}

func (r *report) openTable() *table {
	v := r.Volume
	t := &table{title: fmt.Sprintf("6. Open time with %s records stored", count(v.Records)),
		header: []string{"system", "open median (min–max)", "file size", "vs raw bbolt open"}}
	rawOpen := -1.0
	if r.Raw != nil {
		rawOpen = r.Raw.OpenMs.Median
	}
	t.row("spool.Open", msSpread(v.OpenMs), mib(v.FileBytes.Median), ratio(v.OpenMs.Median, rawOpen))
	if raw := r.Raw; raw != nil {
		t.row("bolt.Open of the raw database (1b)", msSpread(raw.OpenMs), mib(raw.FileBytes.Median), "1.00×")
	}
	t.note("each run: median of %d opens (Open, then Close untimed) after a clean Close; warm page cache", opensPerRun)
	r.noteVerdict(t, 6)
	return t
}

// printSummary prints every target's verdict.
func (r *report) printSummary(w io.Writer) {
	t := &table{title: "Summary: targets", header: []string{"section", "target", "result", "status"}}
	for _, v := range r.Verdicts {
		t.row(fmt.Sprint(v.Section), v.Target, v.Result, v.Status)
	}
	t.note("medians of %d run(s) each; total time %.0f s", r.cfg.runs, r.ElapsedS)
	t.print(w)
}
