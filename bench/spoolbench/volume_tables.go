package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// The tables of sections 4, 5 and 6.

func (r *report) volumeTables() []*figure.Table {
	var out []*figure.Table
	for _, s := range []struct {
		n     int
		table func() *figure.Table
	}{{4, r.writeTable}, {5, r.readTable}, {6, r.openTable}} {
		if r.has(s.n) {
			out = append(out, s.table())
		}
	}
	return out
}

// noteVerdict adds section n's verdict to t.
func (r *report) noteVerdict(t *figure.Table, n int) {
	for _, v := range r.verdicts() {
		if v.Section == n {
			t.Note("%s", v.Line())
		}
	}
}

func (r *report) writeTable() *figure.Table {
	v := r.Volume
	t := &figure.Table{Title: "4. Bytes written per payload byte",
		Header: []string{"system", "written / payload byte", "stored / payload byte", "written / stored", "records/s while filling", "CPU-s/1M rec", "tier"}}
	if v.WrittenPerByte.Runs == 0 {
		t.Row("spool", "n/a", "", "", "", "", tierFsync)
		t.Note("needs /proc/self/io (Linux); this is %s", runtime.GOOS)
		return t
	}
	t.Row(fmt.Sprintf("spool (async, %d producers)", v.Producers), figure.NumSpread(v.WrittenPerByte, "%.3f"),
		fmt.Sprintf("%.3f", v.StoredPerByte.Median), figure.Ratio(v.WrittenPerByte.Median, v.StoredPerByte.Median),
		figure.RateSpread(v.FillRate), cpuStr(v.FillCPU), tierFsync)
	if raw := r.Raw; raw != nil && raw.WrittenPerByte.Runs > 0 {
		t.Row(fmt.Sprintf("raw bbolt Put, %d/txn (1b)", raw.PerTxn), figure.NumSpread(raw.WrittenPerByte, "%.3f"),
			"1.000", figure.Ratio(raw.WrittenPerByte.Median, 1), figure.RateSpread(raw.PutRate), cpuStr(raw.PutCPU), tierFsync)
		t.Note("spool / raw bbolt: %s", figure.Ratio(v.WrittenPerByte.Median, raw.WrittenPerByte.Median))
	}
	if v.ProbeAppended.Runs > 0 {
		t.Row("diagnostic: bbolt, 1 value/partition/commit", "", "", figure.NumSpread(v.ProbeAppended, "%.2f")+"×", "", "", tierFsync)
		t.Row("  same values, each in its own sub-bucket", "", "", figure.NumSpread(v.ProbeAlone, "%.2f")+"×", "", "", tierFsync)
		t.Note("diagnostic rows: raw bbolt, %d commits each putting one incompressible value of the spool's mean batch size (%.0f B) into each of %d partition buckets; written / value bytes",
			probeCommits, v.MeanBatchBytes.Median, partitions)
	}
	t.Note("%s records each; payload = key + value (spool: device id + JSON; raw bbolt: 8-byte key + the same JSON)", count(v.Records))
	t.Note("stored = the batches' bytes as the spool counts them (zstd-compressed, with headers); raw bbolt stores values as they are")
	t.Note("written = write_bytes of /proc/self/io: page-cache bytes the process dirtied, in whole 4 KiB pages; the filesystem journal and the device below are not counted")
	r.noteVerdict(t, 4)
	return t
}

// payloadPerRecord is the mean key and value size.
func (r *report) payloadPerRecord() (key, value float64) {
	return r.Settings.MeanKey, r.Settings.MeanPayload - r.Settings.MeanKey
}

func (r *report) readTable() *figure.Table {
	v := r.Volume
	t := &figure.Table{Title: "5. Sequential read / replay",
		Header: []string{"system", "records/s median (min–max)", "payload MB/s", "CPU-s/1M rec", "vs raw bbolt scan", "tier"}}
	rawScan := -1.0
	if r.Raw != nil {
		rawScan = r.Raw.ScanRate.Median
	}
	t.Row("spool Read (1 MiB) + Entry.Records()", figure.RateSpread(v.ReadRate), fmt.Sprintf("%.0f", v.ReadRate.Median*r.Settings.MeanPayload/1e6),
		cpuStr(v.ReadCPU), figure.Ratio(v.ReadRate.Median, rawScan), tierFsync+" (data written so)")
	if raw := r.Raw; raw != nil {
		_, values := r.payloadPerRecord()
		t.Row("raw bbolt cursor scan (1b)", figure.RateSpread(raw.ScanRate), fmt.Sprintf("%.0f", raw.ScanRate.Median*(8+values)/1e6),
			cpuStr(raw.ScanCPU), "1.00×", tierFsync+" (data written so)")
	}
	t.Note("%s records, every partition from offset 0, each batch CRC-checked, decompressed and decoded into records; the file is in the page cache (just written)", count(v.Records))
	t.Note("the raw scan only touches each value: no checksum, no decompression, no decoding")
	r.noteVerdict(t, 5)
	return t
}

func (r *report) openTable() *figure.Table {
	v := r.Volume
	t := &figure.Table{Title: fmt.Sprintf("6. Open time with %s records stored", count(v.Records)),
		Header: []string{"system", "open median (min–max)", "file size", "vs raw bbolt open"}}
	rawOpen := -1.0
	if r.Raw != nil {
		rawOpen = r.Raw.OpenMs.Median
	}
	t.Row("spool.Open", figure.MsSpread(v.OpenMs), mib(v.FileBytes.Median), figure.Ratio(v.OpenMs.Median, rawOpen))
	if raw := r.Raw; raw != nil {
		t.Row("bolt.Open of the raw database (1b)", figure.MsSpread(raw.OpenMs), mib(raw.FileBytes.Median), "1.00×")
	}
	t.Note("each run: median of %d opens (Open, then Close untimed) after a clean Close; warm page cache", opensPerRun)
	r.noteVerdict(t, 6)
	return t
}

// printSummary prints every target's verdict.
func (r *report) printSummary(w io.Writer) {
	t := &figure.Table{Title: "Summary: targets", Header: []string{"section", "target", "result", "status"}}
	for _, v := range r.Verdicts {
		t.Row(fmt.Sprint(v.Section), v.Target, v.Result, v.Status)
	}
	t.Note("medians of %d run(s) each; total time %.0f s", r.cfg.runs, r.ElapsedS)
	t.Print(w)
}
