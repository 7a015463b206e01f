package spool

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Commit queues t and waits until it is durable (written and fsynced) or
// has failed. The error is t's own failure (ErrFull, ErrConflict, a disk
// error, …) or ctx's; if ctx ends after t was queued, t may still commit.
func (s *Spool) Commit(ctx context.Context, t *Txn) (Result, error) {
	ch := make(chan Result, 1)
	if err := s.CommitAsync(ctx, t, func(r Result) { ch <- r }); err != nil {
		return Result{Err: err}, err
	}
	select {
	case r := <-ch:
		return r, r.Err
	case <-ctx.Done():
		return Result{Err: ctx.Err()}, ctx.Err()
	}
}

// CommitAsync queues t and returns; done is called exactly once, from the
// committer goroutine, when t is durable or has failed. done must not block:
// hand the result to another goroutine if there is work to do. CommitAsync
// waits only while the queue is full (MaxPendingBytes); if it returns an
// error, t was not queued and done is never called.
func (s *Spool) CommitAsync(ctx context.Context, t *Txn, done func(Result)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.checkTxn(t); err != nil {
		return err
	}
	r := &request{txn: t, size: t.size(), enqueued: time.Now(), done: done}
	return s.q.push(ctx, r, s.opts.MaxPendingBytes)
}

// Append commits recs to stream, each to the partition of its key, and
// returns their positions once they are durable.
func (s *Spool) Append(ctx context.Context, stream string, recs ...Record) ([]Position, error) {
	r, err := s.Commit(ctx, new(Txn).Append(stream, recs...))
	return r.Positions, err
}

// AppendAsync is Append with a completion callback, as CommitAsync.
func (s *Spool) AppendAsync(ctx context.Context, stream string, recs []Record, done func(Result)) error {
	return s.CommitAsync(ctx, new(Txn).Append(stream, recs...), done)
}

// run is the committer: it owns every write to the file.
func (s *Spool) run() {
	defer close(s.done)
	var tick <-chan time.Time
	if s.opts.RetentionInterval > 0 {
		t := time.NewTicker(s.opts.RetentionInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.q.kick:
		case <-tick:
			s.queueRetention()
		case <-s.quit:
			s.flush(false)
			s.failQueued()
			return
		}
		s.flush(true)
	}
}

// queueRetention queues an age-retention pass, past the byte limit.
func (s *Spool) queueRetention() {
	r := &request{enqueued: time.Now(), job: func(c *commit) error { return c.ageRetention() }}
	_ = s.q.push(context.Background(), r, math.MaxInt)
}

// flush commits until the queue is empty. With linger, a group waits until
// its oldest request is Linger old or the group is full; but a lone request
// after a lone group commits at once: with a single producer there is
// nobody to wait for, and the linger would only add its length to every
// commit. Requests that queue up while a commit runs go in the next group.
func (s *Spool) flush(linger bool) {
	for {
		at, n, bytes := s.q.oldest()
		if n == 0 {
			return
		}
		alone := n == 1 && s.lastGroup <= 1
		if wait := time.Until(at.Add(s.opts.Linger)); linger && !alone && bytes < s.opts.MaxBatchBytes && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
			}
		}
		group := s.q.take(s.opts.MaxBatchBytes)
		s.lastGroup = len(group)
		s.commitGroup(group)
	}
}

// failQueued fails whatever is still queued after the final flush; there
// is nothing left, unless Close raced with a push.
func (s *Spool) failQueued() {
	for _, r := range s.q.take(math.MaxInt) {
		if r.done != nil {
			r.done(Result{Err: ErrClosed})
		}
	}
}

// commitGroup writes reqs in one bbolt transaction and completes them.
func (s *Spool) commitGroup(reqs []*request) {
	if len(reqs) == 0 {
		return
	}
	began := time.Now()
	c := newCommit(s)
	results := make([]Result, len(reqs))
	wake := false
	err := s.update(func(tx *bolt.Tx) error {
		c.tx = tx
		for i, r := range reqs {
			if err := c.run(r, &results[i]); err != nil {
				return err
			}
		}
		return c.write()
	})
	if err != nil {
		err = fmt.Errorf("spool: commit: %w", err)
		s.opts.Logger.Error("spool commit failed", "err", err, "requests", len(reqs))
		for i := range results {
			results[i] = Result{Err: err}
		}
		// If the file kept the data after all, wake the readers.
		wake = s.reloadMeta()
	} else {
		c.publish()
	}
	s.m.observeCommit(c, err, time.Since(began))
	for i, r := range reqs {
		if r.done != nil {
			r.done(results[i])
		}
	}
	if (err == nil && c.wrote) || wake {
		ch := make(chan struct{})
		close(*s.notify.Swap(&ch))
	}
}

// reloadMeta publishes every partition's metadata as the file now has it.
// After a failed commit it is normally what was published before; but if
// the failure struck after bbolt wrote its meta page (a failed final
// fsync), bbolt goes on from that page, the records are in the file, and
// their offsets must not be given out again: a producer's retry then makes
// a duplicate, never two records under one offset.
// It reports whether any partition's next offset moved, so that waiting
// readers can be woken.
func (s *Spool) reloadMeta() (moved bool) {
	err := s.view(func(tx *bolt.Tx) error {
		for _, cfg := range s.Streams() {
			for p := range cfg.Partitions {
				part, err := s.part(cfg.Name, p)
				if err != nil {
					continue
				}
				pb, err := partBucket(tx, cfg.Name, p)
				if err != nil {
					s.opts.Logger.Error("spool could not reread a partition after a failed commit", "err", err)
					continue
				}
				m, err := readPartMeta(pb)
				if err != nil {
					s.opts.Logger.Error("spool could not reread a partition after a failed commit", "err", err)
					continue
				}
				moved = moved || m.next != part.next.Load()
				part.store(m)
			}
		}
		return nil
	})
	if err != nil {
		s.opts.Logger.Error("spool could not reread its metadata after a failed commit", "err", err)
	}
	return moved
}

// update runs fn in a write transaction and turns a panic inside bbolt (a
// damaged page) into an error; bbolt rolls the transaction back.
func (s *Spool) update(fn func(*bolt.Tx) error) (err error) {
	defer guard(&err)()
	return s.db.Update(fn)
}

// view is update for a read transaction.
func (s *Spool) view(fn func(*bolt.Tx) error) (err error) {
	defer guard(&err)()
	return s.db.View(fn)
}

// guard turns a panic in bbolt, or a memory fault in its map of the file
// (a truncated or damaged file), into ErrCorrupt in *err. Call it deferred:
// defer guard(err)(). bbolt rolls back a transaction that panicked.
func guard(err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			*err = fmt.Errorf("%w: bbolt failed reading the file (%v); run `tributary spool check --dir` for a report", ErrCorrupt, r)
		}
	}
}

// changed returns a channel that is closed after the next commit that
// writes data. Take it before reading, then wait on it, and no commit is
// missed.
func (s *Spool) changed() <-chan struct{} { return *s.notify.Load() }

// Changed returns a channel that is closed after the next commit that writes
// data, for a reader that follows several partitions at once (one Iterator
// follows one). Take it before reading, then wait on it, and no commit is
// missed.
func (s *Spool) Changed() <-chan struct{} { return s.changed() }
