package spool_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// Benchmarks of the spool's public API with telemetry-like records. Each
// reports records/s; durable means fsynced before the ack, as always. The
// bench program (bench/spoolbench) compares these paths with the machine's
// limits; these stay here to catch regressions, and finish in seconds with
// -benchtime=1x.

const (
	benchStream     = "bench"
	benchPartitions = 8
	benchDevices    = 500
	benchPool       = 4096 // distinct records; appends cycle through them
	benchWindow     = 1000 // async records in flight
	benchReadCount  = 20000
)

// benchRecords makes n readings of about 160 bytes (key + JSON value).
func benchRecords(n int) []spool.Record {
	base := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	recs := make([]spool.Record, n)
	for i := range recs {
		ts := base.Add(time.Duration(i) * 10 * time.Millisecond)
		dev := fmt.Sprintf("meter-%04d", i%benchDevices)
		val := fmt.Sprintf(`{"site":"plant-%02d","device":"%s","metric":"active_power","value":%.1f,"unit":"W","quality":"good","seq":%d,"ts":"%s"}`,
			i%12, dev, 200+float64(i*7919%48000)/10, i, ts.Format("2006-01-02T15:04:05.000Z"))
		recs[i] = spool.Record{Key: []byte(dev), Value: []byte(val), Time: ts}
	}
	return recs
}

// openBench opens a spool with the benchmark stream in a temporary
// directory, closed when the benchmark ends.
func openBench(b *testing.B) *spool.Spool {
	b.Helper()
	s, err := spool.Open(b.TempDir(), spool.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	if err := s.EnsureStream(spool.StreamConfig{Name: benchStream, Partitions: benchPartitions, MaxBytes: 1 << 30}); err != nil {
		b.Fatalf("EnsureStream: %v", err)
	}
	return s
}

func reportRecords(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendBlocking appends one record per Append from 16 goroutines
// per CPU, each waiting for its record's commit.
func BenchmarkAppendBlocking(b *testing.B) {
	s, recs := openBench(b), benchRecords(benchPool)
	var next atomic.Uint64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := s.Append(context.Background(), benchStream, recs[i%benchPool]); err != nil {
				b.Errorf("Append: %v", err)
				return
			}
		}
	})
	reportRecords(b, b.N)
}

// BenchmarkAppendAsync appends one record per AppendAsync with up to
// benchWindow records in flight, and times until the last is durable.
func BenchmarkAppendAsync(b *testing.B) {
	s, recs := openBench(b), benchRecords(benchPool)
	sem := make(chan struct{}, benchWindow)
	var failed atomic.Int64
	done := func(r spool.Result) {
		if r.Err != nil {
			failed.Add(1)
		}
		<-sem // never blocks: the slot was taken before the call
	}
	b.ResetTimer()
	for i := range b.N {
		sem <- struct{}{}
		if err := s.AppendAsync(context.Background(), benchStream, []spool.Record{recs[i%benchPool]}, done); err != nil {
			b.Fatalf("AppendAsync: %v", err)
		}
	}
	for range benchWindow {
		sem <- struct{}{}
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d appends failed", n)
	}
	reportRecords(b, b.N)
}

// BenchmarkRead reads benchReadCount stored records, every partition from
// offset 0 in 1 MiB reads, decoding every record.
func BenchmarkRead(b *testing.B) {
	s, recs := openBench(b), benchRecords(benchReadCount)
	for i := 0; i < len(recs); i += 1000 {
		if _, err := s.Append(context.Background(), benchStream, recs[i:min(i+1000, len(recs))]...); err != nil {
			b.Fatalf("Append: %v", err)
		}
	}
	b.ResetTimer()
	total := 0
	for range b.N {
		n, err := readAll(s)
		if err != nil {
			b.Fatal(err)
		}
		if n != len(recs) {
			b.Fatalf("read %d records, want %d", n, len(recs))
		}
		total += n
	}
	reportRecords(b, total)
}

func readAll(s *spool.Spool) (int, error) {
	count := 0
	for p := range benchPartitions {
		for from := uint64(0); ; {
			entries, err := s.Read(benchStream, p, from, 1<<20)
			if err != nil {
				return count, fmt.Errorf("read partition %d at %d: %w", p, from, err)
			}
			if len(entries) == 0 {
				break
			}
			for _, e := range entries {
				rs, err := e.Records()
				if err != nil {
					return count, fmt.Errorf("decode partition %d at %d: %w", p, e.Offset(), err)
				}
				count += len(rs)
				from = e.NextOffset()
			}
		}
	}
	return count, nil
}
