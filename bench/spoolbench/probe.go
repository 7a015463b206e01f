package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// A diagnostic beside section 4: how many bytes bbolt writes per value byte
// when, like the spool, each commit appends one value of the spool's mean
// batch size to each of 8 partition buckets, against the same values each
// stored alone in its own sub-bucket. bbolt rewrites a whole leaf on every
// change and never splits a leaf of 4 keys or fewer, so a partition's last
// leaf, holding its last few batches, is written again at every commit.

const probeCommits = 200

// probeResult is written bytes per value byte of each layout.
type probeResult struct {
	valueBytes      int
	appended, alone float64
}

func bboltProbe(dir string, valueBytes int) (probeResult, error) {
	r := probeResult{valueBytes: valueBytes}
	var err error
	if r.appended, err = probeOnce(filepath.Join(dir, "appended.db"), valueBytes, false); err != nil {
		return r, err
	}
	r.alone, err = probeOnce(filepath.Join(dir, "alone.db"), valueBytes, true)
	return r, err
}

// probeOnce writes probeCommits commits of one incompressible value per
// partition bucket and returns write_bytes per value byte.
func probeOnce(path string, valueBytes int, alone bool) (float64, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	defer db.Close()
	if err := db.Update(createPartitions); err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	val := make([]byte, valueBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range val {
		val[i] = byte(rng.Uint32())
	}
	w0, _ := writeBytes()
	for c := range probeCommits {
		if err := db.Update(func(tx *bolt.Tx) error { return probePut(tx, uint64(c), val, alone) }); err != nil {
			return 0, fmt.Errorf("probe: %w", err)
		}
	}
	w1, _ := writeBytes()
	return float64(w1-w0) / float64(probeCommits*partitions*valueBytes), db.Close()
}

func createPartitions(tx *bolt.Tx) error {
	for p := range partitions {
		if _, err := tx.CreateBucket([]byte{byte(p)}); err != nil {
			return err
		}
	}
	return nil
}

// probePut stores val under key c in every partition bucket, or alone in a
// new sub-bucket c of it.
func probePut(tx *bolt.Tx, c uint64, val []byte, alone bool) error {
	key := binary.BigEndian.AppendUint64(nil, c)
	for p := range partitions {
		b := tx.Bucket([]byte{byte(p)})
		put := b.Put
		if alone {
			sub, err := b.CreateBucket(key)
			if err != nil {
				return err
			}
			put = func(_, v []byte) error { return sub.Put([]byte{0}, v) }
		}
		if err := put(key, val); err != nil {
			return err
		}
	}
	return nil
}
