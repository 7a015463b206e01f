package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Report is what Check found.
type Report struct {
	Path       string
	Epoch      string
	Streams    int
	Partitions int
	Batches    int
	Records    uint64 // in readable batches
	Gaps       int
	Problems   []Problem
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Problem is one thing wrong, with the exact offsets affected where it
// concerns data: [From, To) of one partition.
type Problem struct {
	Stream    string // "" for a problem of the file itself
	Partition int
	From, To  uint64
	What      string
}

func (p Problem) String() string {
	if p.Stream == "" {
		return p.What
	}
	if p.To > p.From {
		return fmt.Sprintf("stream %q partition %d offsets %d to %d (%d records): %s", p.Stream, p.Partition, p.From, p.To-1, p.To-p.From, p.What)
	}
	return fmt.Sprintf("stream %q partition %d at offset %d: %s", p.Stream, p.Partition, p.From, p.What)
}

// CheckDir checks the spool in dir without changing it: bbolt's own
// structure, then every batch (CRC and full decode), the offsets (no holes
// between batches and gaps) and each partition's metadata. It opens the file
// read-only, so it fails while a node holds the spool. The error is for a
// spool that cannot be opened at all; what is wrong inside is in the report.
func CheckDir(dir string) (Report, error) {
	s, err := openFile(filepath.Join(dir, FileName), Options{OpenTimeout: defaultOpenTimeout}, true)
	if err != nil {
		return Report{Path: filepath.Join(dir, FileName)}, err
	}
	defer s.db.Close()
	return s.check()
}

// Check is CheckDir on an open spool. bbolt's structure check is only
// sound while no other write runs, so commits wait while it runs; the batch
// and offset checks that follow do not hold them up.
func (s *Spool) Check() (Report, error) {
	if s.closed.Load() {
		return Report{}, ErrClosed
	}
	return s.check()
}

func (s *Spool) check() (Report, error) {
	r := Report{Path: s.path, Epoch: s.epoch}
	if err := s.checkStructure(&r); err != nil {
		r.Problems = append(r.Problems, Problem{What: err.Error()})
	}
	err := s.view(func(tx *bolt.Tx) error {
		for _, cfg := range sortedConfigs(s.Streams()) {
			r.Streams++
			for p := range cfg.Partitions {
				r.Partitions++
				s.checkPartition(tx, cfg.Name, p, &r)
			}
		}
		return nil
	})
	if err != nil {
		r.Problems = append(r.Problems, Problem{What: err.Error()})
	}
	return r, nil
}

// checkStructure runs bbolt's own check. A read-only file is checked in a
// read transaction (nobody writes it); an open spool in a write transaction
// that is rolled back, which keeps the committer out while it runs.
func (s *Spool) checkStructure(r *Report) (err error) {
	defer guard(&err)()
	tx, err := s.db.Begin(!s.db.IsReadOnly())
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := checkFileSize(s.path, tx); err != nil {
		return err // bbolt's check would fault on the missing pages
	}
	for err := range tx.Check() {
		r.Problems = append(r.Problems, Problem{What: "bbolt: " + err.Error()})
	}
	return nil
}

func sortedConfigs(cfgs []StreamConfig) []StreamConfig {
	sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Name < cfgs[j].Name })
	return cfgs
}

// checkPartition walks one partition's batches and gaps together.
func (s *Spool) checkPartition(tx *bolt.Tx, stream string, p int, r *Report) {
	bad := func(from, to uint64, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Stream: stream, Partition: p, From: from, To: to, What: fmt.Sprintf(format, args...)})
	}
	pb, err := partBucket(tx, stream, p)
	if err != nil {
		bad(0, 0, "%v", err)
		return
	}
	m, err := readPartMeta(pb)
	if err != nil {
		bad(0, 0, "metadata: %v", err)
		return
	}
	items := s.partitionItems(pb, stream, p, r, bad)
	pos, bytes := m.start, int64(0)
	for _, it := range items {
		if it.from != pos {
			bad(min(pos, it.from), max(pos, it.from), "offsets missing or overlapping: expected the next item at %d, found one at %d", pos, it.from)
		}
		pos = max(pos, it.to)
		bytes += int64(it.size)
	}
	if pos != m.next {
		bad(min(pos, m.next), max(pos, m.next), "the data ends at %d but the metadata says the next offset is %d", pos, m.next)
	}
	if bytes != m.bytes {
		bad(m.start, m.start, "batches hold %d bytes but the metadata says %d", bytes, m.bytes)
	}
}

// item is a batch or gap as Check sees it.
type item struct {
	from, to uint64
	size     int
}

// partitionItems lists a partition's batches and gaps in offset order,
// reporting damaged ones (with the range they cover, as far as the next
// item's start shows) and counting into r.
func (s *Spool) partitionItems(pb *bolt.Bucket, stream string, p int, r *Report, bad func(from, to uint64, format string, args ...any)) []item {
	var items []item
	var damaged []int // indexes of batches whose end is unknown
	batches := pb.Bucket(keyBatches)
	_ = batches.ForEach(func(k, v []byte) error {
		base := binary.BigEndian.Uint64(k)
		v = batchValue(batches, k, v)
		h, recs, err := DecodeBatch(v)
		if err == nil && h.BaseOffset != base {
			err = fmt.Errorf("batch stored under offset %d says it starts at %d", base, h.BaseOffset)
		}
		if err != nil {
			s.m.corruptInc()
			damaged = append(damaged, len(items))
			items = append(items, item{from: base, to: base, size: len(v)})
			bad(base, base, "damaged batch: %v", err)
			return nil
		}
		r.Batches++
		r.Records += uint64(len(recs))
		items = append(items, item{from: base, to: h.NextOffset(), size: len(v)})
		return nil
	})
	_ = pb.Bucket(keyGaps).ForEach(func(k, v []byte) error {
		g, err := decodeGap(v)
		if err != nil {
			bad(binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k), "damaged gap: %v", err)
			return nil
		}
		r.Gaps++
		items = append(items, item{from: g.From, to: g.To})
		return nil
	})
	sort.SliceStable(items, func(i, j int) bool { return items[i].from < items[j].from })
	s.spanDamaged(items, stream, p, r)
	return items
}

// spanDamaged sets the end of each damaged batch to the next item's start
// (or the partition's next offset) and reports the exact range lost.
func (s *Spool) spanDamaged(items []item, stream string, p int, r *Report) {
	for i := range items {
		if items[i].to != items[i].from {
			continue
		}
		end := items[i].from
		if i+1 < len(items) {
			end = items[i+1].from
		} else if st, err := s.part(stream, p); err == nil {
			end = st.load().next
		}
		items[i].to = end
		for j := range r.Problems {
			pr := &r.Problems[j]
			if pr.Stream == stream && pr.Partition == p && pr.From == items[i].from && pr.To == pr.From {
				pr.To = end
			}
		}
	}
}

// corruptInc counts a damaged batch, also on an inspection-only spool.
func (m *metrics) corruptInc() {
	if m != nil {
		m.corrupt.Inc()
	}
}

// Stat is a spool's inventory.
type Stat struct {
	Path      string
	Epoch     string
	FileBytes int64
	Streams   []StreamStat
	Cursors   []Cursor
}

// StreamStat is one stream's inventory.
type StreamStat struct {
	Config     StreamConfig
	Bytes      int64
	Partitions []PartitionStat
}

// PartitionStat is one partition's inventory.
type PartitionStat struct {
	Partition   int
	Start, Next uint64
	Bytes       int64
	Batches     int
	Gaps        int
}

// StatDir reports the streams, partitions, offsets, bytes and cursors of the
// spool in dir, read-only.
func StatDir(dir string) (Stat, error) {
	s, err := openFile(filepath.Join(dir, FileName), Options{OpenTimeout: defaultOpenTimeout}, true)
	if err != nil {
		return Stat{}, err
	}
	defer s.db.Close()
	return s.stat()
}

// Stat is StatDir on an open spool.
func (s *Spool) Stat() (Stat, error) {
	if s.closed.Load() {
		return Stat{}, ErrClosed
	}
	return s.stat()
}

func (s *Spool) stat() (Stat, error) {
	st := Stat{Path: s.path, Epoch: s.epoch}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	err := s.view(func(tx *bolt.Tx) error {
		for _, cfg := range sortedConfigs(s.Streams()) {
			ss, err := streamStat(tx, cfg)
			if err != nil {
				return err
			}
			st.Streams = append(st.Streams, ss)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Cursors, err = s.cursors()
	return st, err
}

func streamStat(tx *bolt.Tx, cfg StreamConfig) (StreamStat, error) {
	ss := StreamStat{Config: cfg}
	for p := range cfg.Partitions {
		pb, err := partBucket(tx, cfg.Name, p)
		if err != nil {
			return ss, err
		}
		m, err := readPartMeta(pb)
		if err != nil {
			return ss, errors.Join(fmt.Errorf("stream %q partition %d", cfg.Name, p), err)
		}
		ps := PartitionStat{Partition: p, Start: m.start, Next: m.next, Bytes: m.bytes,
			Batches: countKeys(pb.Bucket(keyBatches)), Gaps: countKeys(pb.Bucket(keyGaps))}
		ss.Bytes += m.bytes
		ss.Partitions = append(ss.Partitions, ps)
	}
	return ss, nil
}

// countKeys counts a bucket's own keys (not those of buckets inside it).
func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
