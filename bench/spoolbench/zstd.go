package main

import (
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// Section 1c: how fast one core compresses these records with the
// spool's codec settings (zstd SpeedDefault, one encoder), on 1 MiB chunks
// of concatenated records.

const (
	zstdChunk = 1 << 20
	zstdInput = 64 << 20 // bytes compressed per run
)

type zstdResult struct {
	Level     string        `json:"level"`
	ChunkSize int           `json:"chunk_bytes"`
	MBps      figure.Spread `json:"mb_per_s"` // MB = 1e6 bytes of input
	Ratio     figure.Spread `json:"compressed_per_input_byte"`
	RecPerSec figure.Spread `json:"records_per_s"` // MBps over the mean record size
	CPU       figure.Spread `json:"cpu_s_per_1m"`
}

func measureZstd(c config, w *workload) (*zstdResult, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	defer enc.Close()
	chunks := zstdChunks(w)
	var mbps, ratios, recs, cpus []float64
	for i := range c.runs + 1 {
		r, rat, cpu := zstdRun(enc, chunks, w.meanPayload())
		if i > 0 {
			mbps, ratios, recs, cpus = append(mbps, r), append(ratios, rat), append(recs, r*1e6/w.meanPayload()), append(cpus, cpu)
		}
	}
	return &zstdResult{Level: "SpeedDefault (level 3), EncodeAll, 1 encoder", ChunkSize: zstdChunk,
		MBps: figure.Of(mbps), Ratio: figure.Of(ratios), RecPerSec: figure.Of(recs), CPU: figure.Of(cpus)}, nil
}

// zstdChunks concatenates the pool's records (key then value) into chunks
// of 1 MiB.
func zstdChunks(w *workload) [][]byte {
	var chunks [][]byte
	cur := make([]byte, 0, zstdChunk)
	for i := range w.n {
		r := w.record(i)
		cur = append(append(cur, r.Key...), r.Value...)
		if len(cur) >= zstdChunk {
			chunks = append(chunks, cur[:zstdChunk])
			cur = append(make([]byte, 0, zstdChunk), cur[zstdChunk:]...)
		}
	}
	return chunks
}

// zstdRun compresses zstdInput bytes and returns MB/s, the ratio and
// CPU-seconds per million records.
func zstdRun(enc *zstd.Encoder, chunks [][]byte, recSize float64) (mbps, ratio, cpuPerM float64) {
	var in, out int
	dst := make([]byte, 0, zstdChunk)
	cpu := startCPU()
	began := time.Now()
	for i := 0; in < zstdInput; i++ {
		dst = enc.EncodeAll(chunks[i%len(chunks)], dst[:0])
		in += zstdChunk
		out += len(dst)
	}
	elapsed := time.Since(began)
	return float64(in) / 1e6 / elapsed.Seconds(), float64(out) / float64(in), cpu.perMillion(float64(in) / recSize)
}
