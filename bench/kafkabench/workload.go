package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// The edge's stream, and the hub's (spool, or Kafka topic) of the same
// name: 8 partitions, as configs/edge.yaml has, and a budget it never
// reaches.
var stream = spool.StreamConfig{Name: "telemetry", Partitions: 8, MaxBytes: 64 << 30}

const site = "plant-01"

var metrics = []struct {
	name, unit string
	base, span float64
}{
	{"voltage", "V", 229, 4}, {"current", "A", 14, 6}, {"power", "W", 2900, 600}, {"frequency", "Hz", 49.9, 0.2},
}

// workload generates n readings of devices meters with a fixed seed, one a
// second per device from a fixed start: ~150-byte JSON documents such as
// {"device":"meter-0042","site":"plant-10","gw":"gw-05","fw":"4.2.10","metric":"voltage","v":232.10,"unit":"V","quality":"good","seq":0,"ts":1795946400042}.
// It is bench/replbench's workload, byte for byte.
func workload(n, devices int) []spool.Record {
	rng := rand.New(rand.NewPCG(42, 7))
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	out := make([]spool.Record, n)
	for i := range out {
		d := i % devices
		m := metrics[(i/devices)%len(metrics)]
		ts := start.Add(time.Duration(i/devices)*time.Second + time.Duration(d)*time.Millisecond)
		dev := fmt.Sprintf("meter-%04d", d)
		q := "good"
		if rng.IntN(100) == 0 {
			q = "suspect"
		}
		v := fmt.Appendf(nil, `{"device":"%s","site":"plant-%02d","gw":"gw-%02d","fw":"4.2.%d","metric":"%s","v":%.2f,"unit":"%s","quality":"%s","seq":%d,"ts":%d}`,
			dev, d%16, d%37, 10+d%7, m.name, m.base+rng.Float64()*m.span, m.unit, q, i/devices, ts.UnixMilli())
		out[i] = spool.Record{Key: []byte(dev), Value: v, Time: ts}
	}
	return out
}

// fingerprint is an order-free digest of a multiset of records: the count
// and the sum of a 64-bit hash of each record's key, value and event time
// (in ms, Kafka's precision). Two sides with the same fingerprint hold the
// same records, each as often, with overwhelming probability.
type fingerprint struct {
	Records int    `json:"records"`
	Sum     uint64 `json:"sum"`
}

func (f *fingerprint) add(key, value []byte, t time.Time) {
	h := fnv.New64a()
	_, _ = h.Write(key)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(value)
	_, _ = h.Write(binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli())))
	f.Records++
	f.Sum += h.Sum64()
}

// payloadStats are the value sizes of a workload.
func payloadStats(recs []spool.Record) (mean float64, lo, hi int) {
	lo = 1 << 30
	var sum int
	for _, r := range recs {
		n := len(r.Value)
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	return float64(sum) / float64(len(recs)), lo, hi
}

// fillSpool writes recs into a new spool in dir, fillBatch records per
// Append, and returns the bytes it stores (batches as stored).
func fillSpool(dir string, recs []spool.Record, fillBatch int) (int64, error) {
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		return 0, err
	}
	if err := sp.EnsureStream(stream); err != nil {
		sp.Close()
		return 0, err
	}
	for i := 0; i < len(recs); i += fillBatch {
		if _, err := sp.Append(context.Background(), stream.Name, recs[i:min(i+fillBatch, len(recs))]...); err != nil {
			sp.Close()
			return 0, fmt.Errorf("fill the edge spool: %w", err)
		}
	}
	st, err := sp.Stat()
	if err != nil {
		sp.Close()
		return 0, err
	}
	var stored int64
	for _, s := range st.Streams {
		stored += s.Bytes
	}
	return stored, sp.Close()
}

// copyTree copies the regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
