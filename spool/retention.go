package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// The byte budget (MaxBytes) is checked when records are admitted to a
// commit, before they are compressed, against an estimate of their stored
// size from the stream's recent compression ratio; the stored size is
// counted exactly once written. So a stream may pass its budget by a
// fraction of one commit, and is brought back under it by the next.

// estimate is the stored size expected for raw bytes of st.
func (c *commit) estimate(st *stream, raw int64) int64 {
	if st.ratio == 0 {
		return raw
	}
	return int64(math.Ceil(float64(raw) * st.ratio))
}

// admit makes room for the Txn's records in each stream's budget, or fails
// it: ErrTooLarge if it can never fit, ErrFull under the block policy. Room
// is reserved only when every stream of the Txn has it.
func (c *commit) admit(t *Txn) error {
	var sws []*streamWork
	var need []int64
	for _, a := range t.appends {
		sw, err := c.stream(a.stream)
		if err != nil {
			return err
		}
		n := c.estimate(sw.st, int64(a.raw))
		if i := slices.Index(sws, sw); i >= 0 {
			need[i] += n
			continue
		}
		sws, need = append(sws, sw), append(need, n)
	}
	// Refuse before changing anything: first what no deletion can help,
	// then the block streams (which free only consumed data); drop_oldest
	// streams drop unread data last, when the Txn is sure to commit.
	for i, sw := range sws {
		if err := c.mustFit(sw, need[i]); err != nil {
			return err
		}
	}
	for _, dropPass := range []bool{false, true} {
		for i, sw := range sws {
			if (sw.cfg.Full == DropOldest) == dropPass {
				if err := c.makeRoom(sw, need[i]); err != nil {
					return err
				}
			}
		}
	}
	for i, sw := range sws {
		sw.pending += need[i]
	}
	return nil
}

// mustFit refuses n bytes that no deletion of stored data could make room
// for: more than the whole budget, or more than this commit's own records
// leave of it.
func (c *commit) mustFit(sw *streamWork, n int64) error {
	cfg := sw.cfg
	if n > cfg.MaxBytes {
		return fmt.Errorf("%w: %d bytes for stream %q, whose max_bytes is %d", ErrTooLarge, n, cfg.Name, cfg.MaxBytes)
	}
	if sw.pending+n > cfg.MaxBytes {
		c.full[cfg.Name]++
		return fmt.Errorf("%w: stream %q: the records already in this commit fill its %d bytes; retry", ErrFull, cfg.Name, cfg.MaxBytes)
	}
	return nil
}

// makeRoom frees stored bytes of a stream until n more fit in its budget.
func (c *commit) makeRoom(sw *streamWork, n int64) error {
	cfg := sw.cfg
	for _, drop := range []bool{false, cfg.Full == DropOldest} {
		for sw.used+sw.pending+n > cfg.MaxBytes {
			ok, err := c.deleteOldest(sw, drop)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
	}
	if sw.used+sw.pending+n <= cfg.MaxBytes {
		return nil
	}
	c.full[cfg.Name]++
	return fmt.Errorf("%w: stream %q holds %d of its %d bytes and its consumers have not read the rest; retry later, or raise max_bytes or use the drop_oldest policy",
		ErrFull, cfg.Name, sw.used, cfg.MaxBytes)
}

// oldestBatch is the first stored batch of one partition.
type oldestBatch struct {
	pw     *partWork
	h      BatchHeader
	size   int
	passed bool // every protecting cursor has passed it
}

// deleteOldest deletes the stream's oldest batch (by its newest record's
// time) that every protecting cursor has passed; with drop, the oldest
// batch at all, recording the unconsumed part as a gap. ok is false when
// there is none to delete.
func (c *commit) deleteOldest(sw *streamWork, drop bool) (bool, error) {
	var best *oldestBatch
	for p := range sw.cfg.Partitions {
		ob, err := c.oldest(sw.cfg.Name, p)
		if err != nil {
			return false, err
		}
		if ob == nil || (!ob.passed && !drop) {
			continue
		}
		if best == nil || ob.h.MaxTime < best.h.MaxTime {
			best = ob
		}
	}
	if best == nil {
		return false, nil
	}
	return true, c.deleteBatch(best, ReasonMaxBytes)
}

// oldest returns the first stored batch of a partition, or nil.
func (c *commit) oldest(stream string, p int) (*oldestBatch, error) {
	pw, err := c.part(stream, p)
	if err != nil {
		return nil, err
	}
	batches := pw.pb.Bucket(keyBatches)
	k, v := batches.Cursor().First()
	if k == nil {
		return nil, nil
	}
	v = batchValue(batches, k, v)
	h, err := VerifyBatch(v)
	if err != nil || h.BaseOffset != binary.BigEndian.Uint64(k) {
		c.s.m.corrupt.Inc()
		return nil, &CorruptError{Stream: stream, Partition: p, Offset: binary.BigEndian.Uint64(k), Err: fmt.Errorf("retention cannot read the oldest batch: %w", err)}
	}
	floor, err := c.floorOf(stream, p)
	if err != nil {
		return nil, err
	}
	return &oldestBatch{pw: pw, h: h, size: len(v), passed: h.NextOffset() <= floor}, nil
}

// deleteBatch removes a partition's first batch. The part of it no
// protecting cursor has passed becomes a gap.
func (c *commit) deleteBatch(ob *oldestBatch, reason string) error {
	pw := ob.pw
	if err := pw.pb.Bucket(keyBatches).DeleteBucket(be64(ob.h.BaseOffset)); err != nil {
		return err
	}
	pw.meta.bytes -= int64(ob.size)
	pw.sw.used -= int64(ob.size)
	pw.dirt = true
	if !ob.passed {
		floor, err := c.floorOf(pw.key.stream, pw.key.p)
		if err != nil {
			return err
		}
		g := Gap{From: max(ob.h.BaseOffset, floor), To: ob.h.NextOffset(), MinTime: time.Unix(0, ob.h.MinTime).UTC(),
			MaxTime: time.Unix(0, ob.h.MaxTime).UTC(), At: c.now.UTC(), Reason: reason}
		if err := c.addGap(pw, g); err != nil {
			return err
		}
	}
	// Gaps the cursors have passed go too, or they would be left before
	// the new start with a hole after them.
	if err := c.trimGaps(pw.key.stream, pw.key.p); err != nil {
		return err
	}
	return c.resetStart(pw)
}

// addGap stores g, merged into the partition's last gap when they touch.
func (c *commit) addGap(pw *partWork, g Gap) error {
	gb := pw.pb.Bucket(keyGaps)
	c.dropped[pw.key.stream] += g.To - g.From
	merged := false
	if k, v := gb.Cursor().Last(); k != nil {
		if last, err := decodeGap(v); err == nil && last.To == g.From && last.Reason == g.Reason {
			g.From, g.MinTime = last.From, minTime(last.MinTime, g.MinTime)
			g.MaxTime = maxTime(last.MaxTime, g.MaxTime)
			merged = true
		}
	}
	if !merged {
		c.gaps[pw.key.stream]++
	}
	c.wrote = true
	c.s.opts.Logger.Warn("spool dropped records its consumers had not read", "stream", pw.key.stream, "partition", pw.key.p,
		"from", g.From, "to", g.To, "reason", g.Reason)
	return gb.Put(be64(g.From), encodeGap(g))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// resetStart sets a partition's start to its first batch or gap.
func (c *commit) resetStart(pw *partWork) error {
	start := pw.meta.next
	for _, b := range [][]byte{keyBatches, keyGaps} {
		if k, _ := pw.pb.Bucket(b).Cursor().First(); k != nil {
			start = min(start, binary.BigEndian.Uint64(k))
		}
	}
	pw.meta.start = start
	pw.dirt = true
	return nil
}

// floorOf is the lowest offset of any protecting cursor on a partition, or
// MaxUint64 when none protects it.
func (c *commit) floorOf(stream string, p int) (uint64, error) {
	k := partKey{stream, p}
	if f, ok := c.floor[k]; ok {
		return f, nil
	}
	if c.floor == nil {
		c.floor = map[partKey]uint64{}
	}
	f := uint64(math.MaxUint64)
	suffix := cursorKey("", stream, p)[1:] // \x00stream\x00p
	err := c.tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
		if !bytes.HasSuffix(k, suffix) {
			return nil
		}
		if off, protect, ok := decodeCursor(v); ok && protect {
			f = min(f, off)
		}
		return nil
	})
	c.floor[k] = f
	return f, err
}

// ageRetention deletes, in every stream with a MaxAge, the batches whose
// newest record is older than it and that every protecting cursor has
// passed, and the gaps every protecting cursor has passed.
func (c *commit) ageRetention() error {
	for _, cfg := range c.s.Streams() {
		for p := range cfg.Partitions {
			if err := c.agePartition(cfg, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *commit) agePartition(cfg StreamConfig, p int) error {
	if cfg.MaxAge > 0 {
		cutoff := c.now.Add(-cfg.MaxAge).UnixNano()
		for {
			ob, err := c.oldest(cfg.Name, p)
			if err != nil || ob == nil || !ob.passed || ob.h.MaxTime >= cutoff {
				if err != nil {
					c.s.opts.Logger.Error("spool retention skipped a partition", "err", err)
				}
				break
			}
			if err := c.deleteBatch(ob, "max_age"); err != nil {
				return err
			}
		}
	}
	return c.trimGaps(cfg.Name, p)
}

// trimGaps deletes the gaps of a partition that every protecting cursor has
// passed (all of them, when no cursor protects it).
func (c *commit) trimGaps(stream string, p int) error {
	pw, err := c.part(stream, p)
	if err != nil {
		return err
	}
	floor, err := c.floorOf(stream, p)
	if err != nil {
		return err
	}
	gb := pw.pb.Bucket(keyGaps)
	var passed [][]byte // deleting while a bbolt cursor iterates skips keys
	cur := gb.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		g, err := decodeGap(v)
		if err != nil || g.To > floor {
			break
		}
		passed = append(passed, k)
	}
	for _, k := range passed {
		if err := gb.Delete(k); err != nil {
			return err
		}
	}
	if len(passed) > 0 {
		return c.resetStart(pw)
	}
	return nil
}
