package main

import (
	"fmt"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
	"github.com/tributary-io/tributary/spool"
)

// Sections 4, 5 and 6 share one spool per run: it is filled with the
// configured number of records by 256 asynchronous producers (section 4
// counts the bytes that took), read back in full (section 5), then closed
// and reopened (section 6).

const (
	fillProducers = 256
	readChunk     = 1 << 20
)

type volRun struct {
	written, payload int64
	writtenOK        bool
	stored           int64 // stored (compressed) batch bytes, from Stat
	batches          int
	probe            probeResult
	fill             loadResult
	readRate         float64
	readCPU          float64
	openMs           float64
	fileBytes        int64
}

type volResult struct {
	Records        int           `json:"records"`
	Producers      int           `json:"fill_producers"`
	WrittenPerByte figure.Spread `json:"written_per_payload_byte"` // Runs 0: unknown
	StoredPerByte  figure.Spread `json:"stored_batch_bytes_per_payload_byte"`
	MeanBatchBytes figure.Spread `json:"mean_batch_bytes"`
	ProbeAppended  figure.Spread `json:"probe_appended_written_per_value_byte"` // Runs 0: not run
	ProbeAlone     figure.Spread `json:"probe_own_bucket_written_per_value_byte"`
	FillRate       figure.Spread `json:"fill_records_per_s"`
	FillCPU        figure.Spread `json:"fill_cpu_s_per_1m"`
	ReadRate       figure.Spread `json:"read_records_per_s"`
	ReadCPU        figure.Spread `json:"read_cpu_s_per_1m"`
	OpenMs         figure.Spread `json:"open_ms"`
	FileBytes      figure.Spread `json:"file_bytes"`
}

func measureVolume(c config, w *workload) (*volResult, error) {
	var runs []volRun
	for i := range c.runs + 1 {
		n := c.records
		if i == 0 {
			n = max(c.records/5, 1000) // warm-up
		}
		var r volRun
		err := withSpool(c, func(s *testSpool) (err error) {
			r, err = volumeOnce(s, w, n)
			return err
		})
		if err != nil {
			return nil, err
		}
		if i > 0 {
			runs = append(runs, r)
		}
	}
	return summariseVolume(c, runs), nil
}

func volumeOnce(s *testSpool, w *workload, n int) (volRun, error) {
	var r volRun
	wb0, ok0 := writeBytes()
	fill, err := runLoad(s, w, true, fillProducers, 0, int64(n))
	if err != nil {
		return r, fmt.Errorf("fill: %w", err)
	}
	wb1, ok1 := writeBytes()
	keys, values := w.sizeOf(uint64(n))
	r = volRun{written: wb1 - wb0, payload: keys + values, writtenOK: ok0 && ok1, fill: fill}
	if r.stored, r.batches, err = storedBytes(s); err != nil {
		return r, err
	}
	if r.readRate, r.readCPU, err = replay(s, n); err != nil {
		return r, fmt.Errorf("replay: %w", err)
	}
	if err := s.Close(); err != nil {
		return r, fmt.Errorf("close spool: %w", err)
	}
	r.fileBytes = s.fileSize()
	r.openMs, err = medianOpen(func() (func() error, error) {
		s, err := spool.Open(s.dir, s.opts)
		if err != nil {
			return nil, err
		}
		return s.Close, nil
	})
	if err != nil || !r.writtenOK || r.batches == 0 {
		return r, err
	}
	r.probe, err = bboltProbe(s.dir, int(r.stored/int64(r.batches)))
	return r, err
}

// storedBytes is the size and number of the batches stored, as the spool
// counts them.
func storedBytes(s *testSpool) (int64, int, error) {
	st, err := s.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat: %w", err)
	}
	var n int64
	batches := 0
	for _, ss := range st.Streams {
		n += ss.Bytes
		for _, p := range ss.Partitions {
			batches += p.Batches
		}
	}
	return n, batches, nil
}

// replay reads every partition from offset 0 in 1 MiB reads and decodes
// every record; it returns records/s and CPU-seconds per million.
func replay(s *testSpool, want int) (float64, float64, error) {
	cpu := startCPU()
	began := time.Now()
	total := 0
	for p := range partitions {
		n, err := replayPartition(s, p)
		if err != nil {
			return 0, 0, err
		}
		total += n
	}
	elapsed := time.Since(began)
	if total != want {
		return 0, 0, fmt.Errorf("read %d records, want %d", total, want)
	}
	return float64(total) / elapsed.Seconds(), cpu.perMillion(float64(total)), nil
}

func replayPartition(s *testSpool, p int) (int, error) {
	count := 0
	for from := uint64(0); ; {
		entries, err := s.Read(streamName, p, from, readChunk)
		if err != nil {
			return count, fmt.Errorf("partition %d at %d: %w", p, from, err)
		}
		if len(entries) == 0 {
			return count, nil
		}
		for _, e := range entries {
			recs, err := e.Records()
			if err != nil {
				return count, fmt.Errorf("partition %d at %d: %w", p, e.Offset(), err)
			}
			count += len(recs)
			from = e.NextOffset()
		}
	}
}

func summariseVolume(c config, runs []volRun) *volResult {
	pick := func(f func(volRun) float64) figure.Spread {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return figure.Of(v)
	}
	res := &volResult{Records: c.records, Producers: fillProducers,
		FillRate: pick(func(r volRun) float64 { return r.fill.rate() }), FillCPU: pick(func(r volRun) float64 { return r.fill.cpuPerM }),
		ReadRate: pick(func(r volRun) float64 { return r.readRate }), ReadCPU: pick(func(r volRun) float64 { return r.readCPU }),
		StoredPerByte: pick(func(r volRun) float64 { return float64(r.stored) / float64(r.payload) }),
		OpenMs:        pick(func(r volRun) float64 { return r.openMs }), FileBytes: pick(func(r volRun) float64 { return float64(r.fileBytes) })}
	res.MeanBatchBytes = pick(func(r volRun) float64 { return float64(r.stored) / float64(max(r.batches, 1)) })
	if runs[0].writtenOK {
		res.WrittenPerByte = pick(func(r volRun) float64 { return float64(r.written) / float64(r.payload) })
	}
	if runs[0].probe.valueBytes > 0 {
		res.ProbeAppended = pick(func(r volRun) float64 { return r.probe.appended })
		res.ProbeAlone = pick(func(r volRun) float64 { return r.probe.alone })
	}
	return res
}
