package spool

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// commit is the work of one group commit, inside its bbolt transaction.
// Only the committer goroutine uses it.
type commit struct {
	s       *Spool
	tx      *bolt.Tx
	now     time.Time
	streams map[string]*streamWork
	order   []*partWork        // parts in the order first touched
	floor   map[partKey]uint64 // lowest protecting cursor per partition, once read

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

// streamWork is one stream's state during a commit, looked up once.
type streamWork struct {
	st      *stream
	cfg     StreamConfig // as of this commit (EnsureStream may change st.cfg)
	parts   []*partWork  // loaded on first use
	used    int64        // stored bytes of all partitions, kept up to date
	pending int64        // estimated stored bytes admitted, not yet written
}

// partWork is one partition's state during a commit: its metadata as it
// will be after the commit, and the records it gains.
type partWork struct {
	key  partKey
	sw   *streamWork
	pb   *bolt.Bucket
	meta partMeta
	recs []Record // new records; recs[i] gets offset base+i
	base uint64
	raw  int64  // their uncompressed size
	enc  []byte // the encoded batch, once encode has made it
	dirt bool   // meta changed
}

func newCommit(s *Spool) *commit {
	return &commit{
		s: s, now: s.opts.Now(), streams: map[string]*streamWork{},
		dropped: map[string]uint64{}, gaps: map[string]int{}, full: map[string]int{},
	}
}

// stream returns a stream's work state, making it on first use. Its used
// bytes start from the last commit's published metadata, which matches the
// file: a failed commit publishes nothing.
func (c *commit) stream(name string) (*streamWork, error) {
	if sw := c.streams[name]; sw != nil {
		return sw, nil
	}
	st, cfg, err := c.s.stream(name)
	if err != nil {
		return nil, err
	}
	sw := &streamWork{st: st, cfg: cfg, parts: make([]*partWork, cfg.Partitions)}
	for _, p := range st.parts {
		sw.used += p.bytes.Load()
	}
	c.streams[name] = sw
	return sw, nil
}

// part loads one partition's work state.
func (c *commit) part(stream string, p int) (*partWork, error) {
	sw, err := c.stream(stream)
	if err != nil {
		return nil, err
	}
	return c.partOf(sw, p)
}

func (c *commit) partOf(sw *streamWork, p int) (*partWork, error) {
	if pw := sw.parts[p]; pw != nil {
		return pw, nil
	}
	pb, err := partBucket(c.tx, sw.cfg.Name, p)
	if err != nil {
		return nil, err
	}
	m, err := readPartMeta(pb)
	if err != nil {
		return nil, &CorruptError{Stream: sw.cfg.Name, Partition: p, Err: err}
	}
	pw := &partWork{key: partKey{sw.cfg.Name, p}, sw: sw, pb: pb, meta: m, base: m.next}
	sw.parts[p] = pw
	c.order = append(c.order, pw)
	return pw, nil
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
		sw, err := c.stream(a.stream)
		if err != nil {
			return nil, err
		}
		for i := range a.recs {
			p := a.partition
			if p < 0 {
				p = Partition(a.recs[i].Key, sw.cfg.Partitions)
			}
			pw, err := c.partOf(sw, p)
			if err != nil {
				return nil, err
			}
			r := a.recs[i]
			if r.Time.IsZero() {
				r.Time = c.now
			}
			pos = append(pos, Position{Partition: p, Offset: pw.base + uint64(len(pw.recs))})
			pw.recs = append(pw.recs, r)
			pw.raw += int64(recordSize(&a.recs[i]))
		}
	}
	return pos, c.applyMeta(t)
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
	if err := c.encode(); err != nil {
		return err
	}
	for _, pw := range c.order {
		if pw.enc != nil {
			if err := c.writeBatch(pw); err != nil {
				return err
			}
		}
		if pw.dirt || pw.enc != nil {
			if err := writePartMeta(pw.pb, pw.meta); err != nil {
				return err
			}
		}
	}
	return nil
}

// encode makes every partition's batch, on up to GOMAXPROCS goroutines:
// zstd is most of a commit's CPU, and bbolt only needs the results.
func (c *commit) encode() error {
	var todo []*partWork
	for _, pw := range c.order {
		if len(pw.recs) > 0 {
			todo = append(todo, pw)
		}
	}
	errs := make([]error, len(todo))
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < len(todo); i = int(next.Add(1) - 1) {
			pw := todo[i]
			pw.enc, errs[i] = AppendBatch(nil, pw.base, pw.sw.cfg.codec(), pw.recs)
		}
	}
	var wg sync.WaitGroup
	for range min(len(todo), runtime.GOMAXPROCS(0)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			pw := todo[i]
			return &CorruptError{Stream: pw.key.stream, Partition: pw.key.p, Offset: pw.base, Err: err}
		}
	}
	return nil
}

func (c *commit) writeBatch(pw *partWork) error {
	b := pw.enc
	if err := putBatch(pw.pb.Bucket(keyBatches), pw.base, b); err != nil {
		return err
	}
	pw.meta.next = pw.base + uint64(len(pw.recs))
	pw.meta.bytes += int64(len(b))
	pw.sw.used += int64(len(b))
	pw.sw.st.observeRatio(len(b), pw.raw)
	c.wrote = true
	c.records += len(pw.recs)
	c.bytes += len(b)
	return nil
}

// publish makes the committed metadata visible to readers.
func (c *commit) publish() {
	for _, pw := range c.order {
		pw.sw.st.parts[pw.key.p].store(pw.meta)
	}
}
