package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tributary-io/tributary/bench/internal/figure"
	"github.com/tributary-io/tributary/bench/internal/host"
)

// Section 1b: the raw bbolt reference. The same records, put in key order
// (an 8-byte big-endian sequence) into one bucket, 1,000 per db.Update,
// with bbolt's default options: each Update fsyncs before it returns.
// The same database then gives the peers of sections 4, 5 and 6.

const rawPerTxn = 1000

var rawBucket = []byte("telemetry")

// rawRun is one run of the reference.
type rawRun struct {
	putRate, putCPU   float64 // records/s; CPU-s per 1M records
	written, payload  int64   // write_bytes and key+value bytes of the puts
	writtenOK         bool
	scanRate, scanCPU float64
	openMs            float64
	fileBytes         int64
}

// rawResult is the reference over runs.
type rawResult struct {
	Records        int           `json:"records"`
	PerTxn         int           `json:"records_per_txn"`
	Tier           string        `json:"tier"`
	PutRate        figure.Spread `json:"put_records_per_s"`
	PutCPU         figure.Spread `json:"put_cpu_s_per_1m"`
	WrittenPerByte figure.Spread `json:"written_per_payload_byte"` // Runs 0: unknown
	ScanRate       figure.Spread `json:"scan_records_per_s"`
	ScanCPU        figure.Spread `json:"scan_cpu_s_per_1m"`
	OpenMs         figure.Spread `json:"open_ms"`
	FileBytes      figure.Spread `json:"file_bytes"`
}

func measureRaw(c config, w *workload) (*rawResult, error) {
	var runs []rawRun
	for i := range c.runs + 1 {
		n := c.records
		if i == 0 {
			n = max(c.records/5, rawPerTxn) // warm-up
		}
		var r rawRun
		err := host.InTempDir(c.dir, "spoolbench-", func(dir string) (err error) {
			r, err = rawOnce(filepath.Join(dir, "raw.db"), w, n)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("raw bbolt: %w", err)
		}
		if i > 0 {
			runs = append(runs, r)
		}
	}
	return summariseRaw(c, runs), nil
}

func summariseRaw(c config, runs []rawRun) *rawResult {
	pick := func(f func(rawRun) float64) figure.Spread {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return figure.Of(v)
	}
	res := &rawResult{Records: c.records, PerTxn: rawPerTxn, Tier: tierFsync,
		PutRate: pick(func(r rawRun) float64 { return r.putRate }), PutCPU: pick(func(r rawRun) float64 { return r.putCPU }),
		ScanRate: pick(func(r rawRun) float64 { return r.scanRate }), ScanCPU: pick(func(r rawRun) float64 { return r.scanCPU }),
		OpenMs: pick(func(r rawRun) float64 { return r.openMs }), FileBytes: pick(func(r rawRun) float64 { return float64(r.fileBytes) })}
	if runs[0].writtenOK {
		res.WrittenPerByte = pick(func(r rawRun) float64 { return float64(r.written) / float64(r.payload) })
	}
	return res
}

// rawOnce puts n records into a new database at path, scans them, and
// times a reopen.
func rawOnce(path string, w *workload, n int) (rawRun, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return rawRun{}, err
	}
	r, err := rawPut(db, w, n)
	if err == nil {
		r.scanRate, r.scanCPU, err = rawScan(db, n)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r, err
	}
	r.openMs, err = rawOpen(path)
	if fi, serr := os.Stat(path); serr == nil {
		r.fileBytes = fi.Size()
	}
	return r, err
}

// rawPut puts n records and measures the rate, CPU and bytes written.
func rawPut(db *bolt.DB, w *workload, n int) (rawRun, error) {
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(rawBucket); return err }); err != nil {
		return rawRun{}, err
	}
	wb0, ok0 := writeBytes()
	cpu := startCPU()
	began := time.Now()
	var key [8]byte
	for seq := 0; seq < n; seq += rawPerTxn {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(rawBucket)
			for i := seq; i < min(seq+rawPerTxn, n); i++ {
				binary.BigEndian.PutUint64(key[:], uint64(i))
				if err := b.Put(key[:], w.at(uint64(i)).Value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return rawRun{}, err
		}
	}
	elapsed := time.Since(began)
	r := rawRun{putRate: float64(n) / elapsed.Seconds(), putCPU: cpu.perMillion(float64(n))}
	wb1, ok1 := writeBytes()
	r.written, r.writtenOK = wb1-wb0, ok0 && ok1
	_, values := w.sizeOf(uint64(n))
	r.payload = int64(n)*8 + values
	return r, nil
}

// rawScan reads every record with a cursor, touching each value.
func rawScan(db *bolt.DB, want int) (float64, float64, error) {
	cpu := startCPU()
	began := time.Now()
	count, sum := 0, 0
	err := db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(rawBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			count++
			sum += len(v) + int(v[len(v)-1])
		}
		return nil
	})
	elapsed := time.Since(began)
	if err == nil && count != want {
		err = fmt.Errorf("scan found %d records, want %d", count, want)
	}
	if err == nil && sum == 0 {
		err = errors.New("scan read no bytes")
	}
	return float64(count) / elapsed.Seconds(), cpu.perMillion(float64(count)), err
}

// rawOpen is the median time of bolt.Open of the database at path.
func rawOpen(path string) (float64, error) {
	return medianOpen(func() (func() error, error) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			return nil, err
		}
		return db.Close, nil
	})
}
