package spool

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// commit is the work of one group commit, inside its bbolt transaction.
// Only the committer goroutine uses it.
type commit struct {
	s     *Spool
	tx    *bolt.Tx
	now   time.Time
	parts map[partKey]*partWork
	order []*partWork        // parts in the order first touched
	raw   map[string]int64   // estimated stored bytes admitted, not yet written, per stream
	floor map[partKey]uint64 // lowest protecting cursor per partition, once read

	wrote   bool // some batch or gap was written
	records int  // records written
	bytes   int  // stored bytes written
	dropped map[string]uint64
	gaps    map[string]int
	full    map[string]int
}

type partKey struct {
	stream string
	p      int
}

// partWork is one partition's state during a commit: its metadata as it
// will be after the commit, and the records it gains.
type partWork struct {
	key  partKey
	st   *stream
	cfg  StreamConfig // as of this commit (EnsureStream may change st.cfg)
	pb   *bolt.Bucket
	meta partMeta
	recs []Record // new records; recs[i] gets offset base+i
	base uint64
	raw  int64 // their uncompressed size
	dirt bool  // meta changed
}

func newCommit(s *Spool) *commit {
	return &commit{
		s: s, now: s.opts.Now(),
		parts: map[partKey]*partWork{}, raw: map[string]int64{},
		dropped: map[string]uint64{}, gaps: map[string]int{}, full: map[string]int{},
	}
}

// run applies one request. A Txn that cannot commit gets its error in res
// and changes nothing; the returned error fails the whole group.
func (c *commit) run(r *request, res *Result) error {
	if r.job != nil {
		return r.job(c)
	}
	if err := c.expect(r.txn); err != nil {
		res.Err = err
		return nil
	}
	if err := c.admit(r.txn); err != nil {
		res.Err = err
		return nil
	}
	pos, err := c.apply(r.txn)
	res.Positions = pos
	return err
}

// part loads one partition's work state.
func (c *commit) part(stream string, p int) (*partWork, error) {
	k := partKey{stream, p}
	if pw := c.parts[k]; pw != nil {
		return pw, nil
	}
	st, cfg, err := c.s.stream(stream)
	if err != nil {
		return nil, err
	}
	pb, err := partBucket(c.tx, stream, p)
	if err != nil {
		return nil, err
	}
	m, err := readPartMeta(pb)
	if err != nil {
		return nil, &CorruptError{Stream: stream, Partition: p, Err: err}
	}
	pw := &partWork{key: k, st: st, cfg: cfg, pb: pb, meta: m, base: m.next}
	c.parts[k] = pw
	c.order = append(c.order, pw)
	return pw, nil
}

// expect checks the Txn's state preconditions.
func (c *commit) expect(t *Txn) error {
	state := c.tx.Bucket(bucketState)
	for _, e := range t.expects {
		cur := state.Get([]byte(e.key))
		if (cur == nil) != (e.value == nil) || !bytes.Equal(cur, e.value) {
			return fmt.Errorf("%w: state %q does not hold the expected value", ErrConflict, e.key)
		}
	}
	return nil
}

// apply assigns offsets to the Txn's records and writes its cursors and
// state. Batches are written once per partition, in write.
func (c *commit) apply(t *Txn) ([]Position, error) {
	var pos []Position
	if t.records > 0 {
		pos = make([]Position, 0, t.records)
	}
	for _, a := range t.appends {
		cfg := a.partitionCount(c)
		for i := range a.recs {
			p := a.partition
			if p < 0 {
				p = Partition(a.recs[i].Key, cfg)
			}
			pw, err := c.part(a.stream, p)
			if err != nil {
				return nil, err
			}
			r := a.recs[i]
			if r.Time.IsZero() {
				r.Time = c.now
			}
			pos = append(pos, Position{Partition: p, Offset: pw.base + uint64(len(pw.recs))})
			pw.recs = append(pw.recs, r)
			size := int64(recordSize(&a.recs[i]))
			pw.raw += size
			c.raw[a.stream] += c.estimate(pw.st, size)
		}
	}
	return pos, c.applyMeta(t)
}

func (a appendOp) partitionCount(c *commit) int {
	_, cfg, err := c.s.stream(a.stream)
	if err != nil {
		return 1
	}
	return cfg.Partitions
}

// applyMeta writes the Txn's cursor moves and state values.
func (c *commit) applyMeta(t *Txn) error {
	cursors := c.tx.Bucket(bucketCursors)
	for _, op := range t.cursors {
		k := cursorKey(op.name, op.stream, op.partition)
		var err error
		if op.del {
			err = cursors.Delete(k)
		} else {
			err = cursors.Put(k, encodeCursor(op.offset, op.protect))
		}
		if err != nil {
			return err
		}
		delete(c.floor, partKey{op.stream, op.partition})
	}
	state := c.tx.Bucket(bucketState)
	for _, op := range t.puts {
		var err error
		if op.value == nil {
			err = state.Delete([]byte(op.key))
		} else {
			err = state.Put([]byte(op.key), op.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// write encodes each partition's new records as one batch and stores it,
// with the partition's metadata.
func (c *commit) write() error {
	for _, pw := range c.order {
		if len(pw.recs) > 0 {
			if err := c.writeBatch(pw); err != nil {
				return err
			}
		}
		if pw.dirt || len(pw.recs) > 0 {
			if err := writePartMeta(pw.pb, pw.meta); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *commit) writeBatch(pw *partWork) error {
	b, err := AppendBatch(nil, pw.base, pw.cfg.codec(), pw.recs)
	if err != nil {
		return &CorruptError{Stream: pw.key.stream, Partition: pw.key.p, Offset: pw.base, Err: err}
	}
	if err := pw.pb.Bucket(keyBatches).Put(be64(pw.base), b); err != nil {
		return err
	}
	pw.meta.next = pw.base + uint64(len(pw.recs))
	pw.meta.bytes += int64(len(b))
	pw.st.observeRatio(len(b), pw.raw)
	c.wrote = true
	c.records += len(pw.recs)
	c.bytes += len(b)
	return nil
}

// publish makes the committed metadata visible to readers.
func (c *commit) publish() {
	for _, pw := range c.order {
		pw.st.parts[pw.key.p].store(pw.meta)
	}
}
