package spool

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Entry is one item of a partition, in offset order: a stored batch or a
// gap. Exactly one of Batch and Gap is set.
type Entry struct {
	Partition int
	// Batch is the batch as stored (and as replicated), its CRC verified,
	// copied out of the file. Header is its parsed header.
	Batch  []byte
	Header BatchHeader
	Gap    *Gap
}

// Offset is the first offset the entry covers.
func (e Entry) Offset() uint64 {
	if e.Gap != nil {
		return e.Gap.From
	}
	return e.Header.BaseOffset
}

// NextOffset is one past the last offset the entry covers.
func (e Entry) NextOffset() uint64 {
	if e.Gap != nil {
		return e.Gap.To
	}
	return e.Header.NextOffset()
}

// Records decodes the batch; record i has offset Offset()+i. A gap has none.
func (e Entry) Records() ([]Record, error) {
	if e.Gap != nil {
		return nil, nil
	}
	_, recs, err := DecodeBatch(e.Batch)
	return recs, err
}

// Read returns a partition's entries in offset order, starting with the one
// that holds offset from (which may begin before it), until about maxBytes
// of batches are read (always at least one entry when there is data at
// from). It returns no entries when from is the partition's next offset,
// and an *OutOfRangeError when from is below the oldest offset held or past
// the next. A damaged batch gives a *CorruptError naming it, after the
// entries before it have been returned by an earlier call.
func (s *Spool) Read(stream string, p int, from uint64, maxBytes int) ([]Entry, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	part, err := s.part(stream, p)
	if err != nil {
		return nil, err
	}
	// Read only what the committer has published, which it does after the
	// fsync: bbolt lets a read transaction see a commit whose meta page is
	// written but not yet synced, and a record shipped from there could be
	// lost to a power cut and its offset given to another.
	limit := part.next.Load()
	var out []Entry
	err = s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = s.read(tx, stream, p, from, limit, maxBytes)
		return err
	})
	return out, err
}

func (s *Spool) read(tx *bolt.Tx, stream string, p int, from, limit uint64, maxBytes int) ([]Entry, error) {
	pb, err := partBucket(tx, stream, p)
	if err != nil {
		return nil, err
	}
	m, err := readPartMeta(pb)
	if err != nil {
		return nil, &CorruptError{Stream: stream, Partition: p, Offset: from, Err: err}
	}
	end := min(m.next, limit)
	if from > end && from <= m.next {
		return nil, nil // committed, not yet fsynced: nothing to read yet
	}
	if from < m.start || from > end {
		return nil, &OutOfRangeError{Stream: stream, Partition: p, Offset: from, Start: m.start, Next: end}
	}
	r := reader{s: s, stream: stream, p: p, pos: from, first: true, bucket: pb.Bucket(keyBatches),
		gaps: pb.Bucket(keyGaps).Cursor()}
	r.batches = r.bucket.Cursor()
	r.bk, r.bv = seekHolding(r.batches, from)
	r.bv = batchValue(r.bucket, r.bk, r.bv)
	r.gk, r.gv = seekHolding(r.gaps, from)
	var out []Entry
	size := 0
	for r.pos < end && (len(out) == 0 || size < maxBytes) {
		e, err := r.next()
		if err != nil {
			if len(out) > 0 {
				return out, nil // the caller meets the error on its next read
			}
			return nil, err
		}
		out = append(out, e)
		size += len(e.Batch)
	}
	return out, nil
}

// seekHolding positions c on the last key ≤ off, or the first key if all
// are above it.
func seekHolding(c *bolt.Cursor, off uint64) ([]byte, []byte) {
	k, v := c.Seek(be64(off))
	if k != nil && binary.BigEndian.Uint64(k) == off {
		return k, v
	}
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil {
		return pk, pv
	}
	return c.Seek(be64(off))
}

// reader walks a partition's batches and gaps together, in offset order.
type reader struct {
	s              *Spool
	stream         string
	p              int
	pos            uint64
	first          bool         // the first entry may start before pos
	bucket         *bolt.Bucket // the partition's batches
	batches, gaps  *bolt.Cursor
	bk, bv, gk, gv []byte
}

// next returns the entry holding r.pos and moves past it.
func (r *reader) next() (Entry, error) {
	bh, bok, err := r.batchAt()
	if err != nil {
		return Entry{}, err
	}
	g, gok, err := r.gapAt()
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	switch {
	case bok && (!gok || bh.BaseOffset <= g.From):
		e = Entry{Partition: r.p, Batch: append([]byte(nil), r.bv...), Header: bh}
		r.nextBatch()
	case gok:
		e = Entry{Partition: r.p, Gap: &g}
		r.gk, r.gv = r.gaps.Next()
	default:
		return Entry{}, r.corrupt(r.pos, fmt.Errorf("offsets from %d on are neither in a batch nor in a gap", r.pos))
	}
	if e.Offset() > r.pos || (!r.first && e.Offset() != r.pos) {
		return Entry{}, r.corrupt(r.pos, fmt.Errorf("offsets %d to %d are missing", r.pos, e.Offset()))
	}
	r.first = false
	r.pos = e.NextOffset()
	return e, nil
}

// batchAt skips batches that end at or before r.pos and verifies the next.
func (r *reader) batchAt() (BatchHeader, bool, error) {
	for r.bk != nil {
		base := binary.BigEndian.Uint64(r.bk)
		h, err := VerifyBatch(r.bv)
		if err == nil && h.BaseOffset != base {
			err = fmt.Errorf("%w: batch stored under offset %d says it starts at %d", ErrCorruptBatch, base, h.BaseOffset)
		}
		if err != nil {
			r.s.m.corrupt.Inc()
			return h, false, r.corrupt(base, err)
		}
		if h.NextOffset() > r.pos {
			return h, true, nil
		}
		r.nextBatch()
	}
	return BatchHeader{}, false, nil
}

func (r *reader) nextBatch() {
	r.bk, r.bv = r.batches.Next()
	r.bv = batchValue(r.bucket, r.bk, r.bv)
}

// gapAt skips gaps that end at or before r.pos.
func (r *reader) gapAt() (Gap, bool, error) {
	for r.gk != nil {
		g, err := decodeGap(r.gv)
		if err != nil {
			return g, false, r.corrupt(binary.BigEndian.Uint64(r.gk), err)
		}
		if g.To > r.pos {
			return g, true, nil
		}
		r.gk, r.gv = r.gaps.Next()
	}
	return Gap{}, false, nil
}

func (r *reader) corrupt(off uint64, err error) error {
	return &CorruptError{Stream: r.stream, Partition: r.p, Offset: off, Err: err}
}

// Iterator reads one partition in order and waits for new data at its end.
type Iterator struct {
	s        *Spool
	stream   string
	p        int
	next     uint64
	buf      []Entry
	maxBytes int
}

// Iterate returns an iterator over one partition from offset from.
func (s *Spool) Iterate(stream string, p int, from uint64) *Iterator {
	return &Iterator{s: s, stream: stream, p: p, next: from, maxBytes: 1 << 20}
}

// Next returns the next entry; at the partition's end it waits, without
// polling, until a commit adds one, ctx ends, or the spool closes.
func (it *Iterator) Next(ctx context.Context) (Entry, error) {
	for {
		if len(it.buf) > 0 {
			e := it.buf[0]
			it.buf = it.buf[1:]
			it.next = e.NextOffset()
			return e, nil
		}
		changed := it.s.changed()
		entries, err := it.s.Read(it.stream, it.p, it.next, it.maxBytes)
		if err != nil {
			return Entry{}, err
		}
		if len(entries) > 0 {
			it.buf = entries
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		case <-it.s.quit:
			return Entry{}, ErrClosed
		}
	}
}

// Position is the offset the iterator reads next.
func (it *Iterator) Position() uint64 { return it.next }
