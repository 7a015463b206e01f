package aggregator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// runner runs one pipeline over one partition of its input stream.
type runner struct {
	a     *Aggregator
	pl    *pipeline
	m     *pipelineMetrics
	part  int
	log   *slog.Logger
	keys  stateKeys
	ch    *chain
	pos   uint64 // next input offset to process
	out   []spool.Record
	outB  int
	man   manifest
	sums  [][32]byte // per step: hash of the state last committed
	since int        // input records since the last commit
	dirty bool       // something to commit
	late  uint64     // ch.late() at the last commit

	lastTime  atomic.Int64 // event time (Unix ns) of the last processed record
	stateSize atomic.Int64
	position  atomic.Uint64
}

func (r *runner) cursorName() string { return "agg/" + r.pl.cfg.Name }

// restore builds the chain and restores its state and position.
func (r *runner) restore() error {
	ch, err := r.pl.newChain(r.collect)
	if err != nil {
		return err
	}
	r.ch, r.out, r.outB, r.since, r.dirty = ch, nil, 0, 0, false
	r.man = manifest{Version: 1, Fingerprint: r.pl.fingerprint}
	r.sums = make([][32]byte, len(ch.ops))
	m, states, err := loadStates(r.a.sp, r.keys)
	if err != nil {
		return err
	}
	if m != nil && m.Fingerprint != r.pl.fingerprint {
		r.log.Warn("pipeline steps changed since the state was stored; starting the steps afresh from the cursor", "partition", r.part)
		r.man.Chunks = m.Chunks // so that the old chunks are deleted
		m = nil
	}
	if m != nil && len(states) == len(ch.ops) {
		r.man = *m
		if m.MaxTime != 0 {
			ch.maxTime = time.Unix(0, m.MaxTime).UTC()
		}
		for i, s := range states {
			if s == nil {
				continue
			}
			if err := ch.ops[i].UnmarshalState(s); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			r.sums[i] = sha256.Sum256(s)
		}
	}
	r.late = ch.late()
	c, ok, err := r.a.sp.Cursor(r.cursorName(), r.pl.cfg.From, r.part)
	if err != nil {
		return err
	}
	if ok {
		r.pos = c.Offset
	} else if r.pos, err = r.a.protect(r.pl, r.part); err != nil {
		return err
	}
	r.position.Store(r.pos)
	r.stateSize.Store(int64(ch.stateSize()))
	return nil
}

// collect takes what the last step emits.
func (r *runner) collect(rec *Record) {
	s := rec.Spool()
	r.out = append(r.out, s)
	r.outB += spool.RecordSize(&s)
}

// run processes the partition until ctx ends. After an error it logs,
// waits, and starts over from the last commit.
func (r *runner) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.restore()
		if err == nil {
			err = r.loop(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, spool.ErrClosed) {
			return
		}
		r.m.errors.Inc()
		r.log.Error("pipeline partition failed; retrying from its last commit", "partition", r.part, "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// loop reads, processes and commits until ctx ends or an error.
func (r *runner) loop(ctx context.Context) error {
	it := r.a.sp.Iterate(r.pl.cfg.From, r.part, r.pos)
	lastCommit := time.Now()
	for {
		wait := ctx
		var cancel context.CancelFunc = func() {}
		if r.dirty {
			wait, cancel = context.WithDeadline(ctx, lastCommit.Add(r.a.opts.CommitInterval))
		}
		e, err := it.Next(wait)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			if r.dirty { // a clean stop keeps the work done
				return errors.Join(ctx.Err(), r.commit(ctx))
			}
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if err := r.commit(ctx); err != nil {
				return err
			}
			lastCommit = time.Now()
			continue
		case err != nil:
			var oor *spool.OutOfRangeError
			if errors.As(err, &oor) && oor.Start > r.pos {
				r.skip(oor.Start-r.pos, "input deleted before it was processed")
				r.pos = oor.Start
				r.dirty = true
				it = r.a.sp.Iterate(r.pl.cfg.From, r.part, r.pos)
				continue
			}
			return err
		}
		if err := r.entry(e); err != nil {
			return err
		}
		if r.since >= r.a.opts.CommitRecords || r.outB >= r.a.opts.MaxCommitBytes || time.Since(lastCommit) >= r.a.opts.CommitInterval {
			if err := r.commit(ctx); err != nil {
				return err
			}
			lastCommit = time.Now()
		}
	}
}

// skip counts and logs input records that were lost to the pipeline.
func (r *runner) skip(n uint64, why string) {
	r.m.gaps.Add(float64(n))
	r.log.Warn("skipping a gap in the input", "partition", r.part, "from", r.pos, "records", n, "reason", why)
}

// entry processes the records of one entry at or past the position.
func (r *runner) entry(e spool.Entry) error {
	if e.NextOffset() <= r.pos {
		return nil
	}
	if e.Gap != nil {
		r.skip(e.NextOffset()-max(r.pos, e.Offset()), e.Gap.Reason)
		r.pos, r.dirty = e.NextOffset(), true
		return nil
	}
	recs, err := e.Records()
	if err != nil {
		return err
	}
	var in int
	for i := range recs {
		if e.Offset()+uint64(i) < r.pos {
			continue
		}
		rec := NewRecord(recs[i])
		if err := r.ch.process(rec); err != nil {
			return fmt.Errorf("offset %d: %w", e.Offset()+uint64(i), err)
		}
		in++
		r.lastTime.Store(rec.Time.UnixNano())
	}
	r.m.in.Add(float64(in))
	r.since += in
	r.pos, r.dirty = e.NextOffset(), true
	return nil
}

// commit writes the output, the cursor and the states in one Txn, retrying
// while the output stream is full.
func (r *runner) commit(ctx context.Context) error {
	if !r.dirty {
		return nil
	}
	t := new(spool.Txn)
	if len(r.out) > 0 {
		t.Append(r.pl.cfg.To, r.out...)
	}
	t.SetCursor(r.cursorName(), r.pl.cfg.From, r.part, r.pos, true)
	states := make([][]byte, len(r.ch.ops))
	sums := make([][32]byte, len(states))
	unchanged := make([]bool, len(states))
	for i, op := range r.ch.ops {
		s, err := op.MarshalState()
		if err != nil {
			return fmt.Errorf("step %d state: %w", i, err)
		}
		states[i], sums[i] = s, sha256.Sum256(s)
		unchanged[i] = bytes.Equal(sums[i][:], r.sums[i][:]) && len(r.man.Chunks) == len(states)
	}
	m := r.man
	if !r.ch.maxTime.IsZero() {
		m.MaxTime = r.ch.maxTime.UnixNano()
	}
	m = putStates(t, r.keys, m, r.man.Chunks, states, unchanged)
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		// Never abandon a commit under way: it would land later, after a
		// restart had read the old cursor. The spool always answers (with
		// ErrClosed at the latest).
		_, err := r.a.sp.Commit(context.WithoutCancel(ctx), t)
		if err == nil {
			break
		}
		if !errors.Is(err, spool.ErrFull) {
			return fmt.Errorf("commit: %w", err)
		}
		r.log.Warn("output stream is full; waiting to commit", "partition", r.part, "stream", r.pl.cfg.To)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.man, r.sums = m, sums
	r.m.out.Add(float64(len(r.out)))
	r.m.commits.Inc()
	late := r.ch.late()
	r.m.windowLate.Add(late - r.late)
	r.late = late
	r.out, r.outB, r.since, r.dirty = r.out[:0], 0, 0, false
	r.position.Store(r.pos)
	r.stateSize.Store(int64(r.ch.stateSize()))
	return nil
}
