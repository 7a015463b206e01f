package spool

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OffsetForTime returns the offset of a partition's first record, in offset
// order, whose time is at or after t, or the From of a gap before it whose
// dropped records reach t; the partition's next offset if there is none.
//
// Record times need not grow with offsets (late data, several devices in a
// partition), so it walks the batches from the partition's start instead of
// bisecting: it reads only each batch's 40-byte header (its time range),
// without the CRC check, and then verifies and decodes the one batch it
// stops in. A batch whose header is damaged may so be passed over or
// chosen wrongly, but no record comes out of here unverified: the read that
// follows checks every batch it returns.
func (s *Spool) OffsetForTime(stream string, p int, t time.Time) (uint64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	part, err := s.part(stream, p)
	if err != nil {
		return 0, err
	}
	limit := part.next.Load() // as Read: only what is fsynced
	want, err := recordNanos(t)
	if err != nil {
		return 0, err
	}
	var off uint64
	err = s.view(func(tx *bolt.Tx) error {
		var err error
		off, err = s.offsetForTime(tx, stream, p, want, limit)
		return err
	})
	return off, err
}

func (s *Spool) offsetForTime(tx *bolt.Tx, stream string, p int, want int64, limit uint64) (uint64, error) {
	pb, err := partBucket(tx, stream, p)
	if err != nil {
		return 0, err
	}
	m, err := readPartMeta(pb)
	if err != nil {
		return 0, &CorruptError{Stream: stream, Partition: p, Err: err}
	}
	end := min(m.next, limit)
	batches := pb.Bucket(keyBatches)
	bc, gc := batches.Cursor(), pb.Bucket(keyGaps).Cursor()
	bk, bv := bc.First()
	gk, gv := gc.First()
	for {
		bOff, gOff := uint64(end), uint64(end)
		if bk != nil {
			bOff = binary.BigEndian.Uint64(bk)
		}
		if gk != nil {
			gOff = binary.BigEndian.Uint64(gk)
		}
		if bOff >= end && gOff >= end {
			return end, nil
		}
		if gOff < bOff {
			g, err := decodeGap(gv)
			if err != nil {
				return 0, &CorruptError{Stream: stream, Partition: p, Offset: gOff, Err: err}
			}
			if g.To > m.start && g.MaxTime.UnixNano() >= want {
				return max(g.From, m.start), nil
			}
			gk, gv = gc.Next()
			continue
		}
		b := batchValue(batches, bk, bv)
		if len(b) >= BatchHeaderSize && int64(binary.BigEndian.Uint64(b[28:])) >= want {
			return s.offsetInBatch(stream, p, bOff, b, want)
		}
		bk, bv = bc.Next()
	}
}

// offsetInBatch verifies and decodes the batch b, stored under base, and
// returns the offset of its first record at or after want.
func (s *Spool) offsetInBatch(stream string, p int, base uint64, b []byte, want int64) (uint64, error) {
	h, recs, err := DecodeBatch(b)
	if err == nil && h.BaseOffset != base {
		err = fmt.Errorf("%w: batch stored under offset %d says it starts at %d", ErrCorruptBatch, base, h.BaseOffset)
	}
	if err != nil {
		s.m.corruptInc()
		return 0, &CorruptError{Stream: stream, Partition: p, Offset: base, Err: err}
	}
	for i, r := range recs {
		if ns, _ := recordNanos(r.Time); ns >= want {
			return base + uint64(i), nil
		}
	}
	// The header's max time said a record reaches want; none does.
	s.m.corruptInc()
	return 0, &CorruptError{Stream: stream, Partition: p, Offset: base,
		Err: fmt.Errorf("%w: no record reaches the batch's max time", ErrCorruptBatch)}
}

// PartitionBytes returns the stored (compressed) bytes of a partition's
// batches as of the last commit, as its budget counts them.
func (s *Spool) PartitionBytes(stream string, p int) (int64, error) {
	part, err := s.part(stream, p)
	if err != nil {
		return 0, err
	}
	return part.bytes.Load(), nil
}
