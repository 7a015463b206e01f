package spool

import (
	"bytes"
	"fmt"
)

// A Txn is a set of writes that commit together, in one bbolt transaction,
// or not at all: records appended to streams, named cursors moved, small
// state values stored, guarded by preconditions on state. The layers above
// build exactly-once on it: the aggregator commits its output, its input
// cursor and its window state in one Txn; the hub commits a site's records
// and its checkpoint in one.
//
// Build it with the methods below, then hand it to Commit or CommitAsync. A
// Txn must not be changed after that.
type Txn struct {
	appends []appendOp
	cursors []cursorOp
	puts    []stateOp
	expects []stateOp
	records int // total records in appends
	bytes   int // their uncompressed size, roughly as encoded
	meta    int // bytes of cursor and state operations
}

// size is what the Txn counts against MaxPendingBytes.
func (t *Txn) size() int { return t.bytes + t.meta }

type appendOp struct {
	stream    string
	partition int // -1: by key
	recs      []Record
	raw       int // their uncompressed size, as recordSize counts it
}

type cursorOp struct {
	name, stream string
	partition    int
	offset       uint64
	protect      bool
	del          bool
}

type stateOp struct {
	key   string
	value []byte // nil: absent (Put deletes; Expect wants it missing)
}

// Append adds records to stream, each to the partition its key hashes to
// (see Partition).
func (t *Txn) Append(stream string, recs ...Record) *Txn {
	return t.add(stream, -1, recs)
}

// AppendTo adds records to one partition of stream, whatever their keys.
func (t *Txn) AppendTo(stream string, partition int, recs ...Record) *Txn {
	if partition < 0 {
		partition = -2 // never valid; Commit refuses it
	}
	return t.add(stream, partition, recs)
}

func (t *Txn) add(stream string, p int, recs []Record) *Txn {
	if len(recs) == 0 {
		return t
	}
	raw := 0
	for i := range recs {
		raw += recordSize(&recs[i])
	}
	t.appends = append(t.appends, appendOp{stream: stream, partition: p, recs: recs, raw: raw})
	t.records += len(recs)
	t.bytes += raw
	return t
}

// RecordSize is what a record counts against MaxBatchBytes (and the
// appended-bytes metric): its key, value and headers with their framing. A
// producer that splits a long input into commits sizes them with it.
func RecordSize(r *Record) int { return recordSize(r) }

// recordSize is a record's size as the batch codec frames it, near enough
// for budgets and batching.
func recordSize(r *Record) int {
	n := len(r.Key) + len(r.Value) + 16
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 4
	}
	return n
}

// SetCursor moves the named cursor on one partition to offset: the next
// offset its reader wants, so everything below it is consumed. A protecting
// cursor keeps retention from deleting what it has not passed (except under
// drop_oldest when the stream is full, which leaves a Gap).
func (t *Txn) SetCursor(name, stream string, partition int, offset uint64, protect bool) *Txn {
	t.cursors = append(t.cursors, cursorOp{name: name, stream: stream, partition: partition, offset: offset, protect: protect})
	t.meta += len(name) + len(stream) + 16
	return t
}

// DeleteCursor removes the named cursor from one partition.
func (t *Txn) DeleteCursor(name, stream string, partition int) *Txn {
	t.cursors = append(t.cursors, cursorOp{name: name, stream: stream, partition: partition, del: true})
	return t
}

// PutState stores value under key; a nil value deletes the key.
func (t *Txn) PutState(key string, value []byte) *Txn {
	t.puts = append(t.puts, stateOp{key: key, value: value})
	t.meta += len(key) + len(value)
	return t
}

// ExpectState makes the Txn fail with ErrConflict, storing nothing, unless
// key holds exactly value when it commits (nil: unless key is absent).
func (t *Txn) ExpectState(key string, value []byte) *Txn {
	t.expects = append(t.expects, stateOp{key: key, value: value})
	t.meta += len(key) + len(value)
	return t
}

// Records is how many records the Txn appends.
func (t *Txn) Records() int { return t.records }

func (t *Txn) empty() bool {
	return len(t.appends) == 0 && len(t.cursors) == 0 && len(t.puts) == 0
}

// Position is where a committed record was stored.
type Position struct {
	Partition int
	Offset    uint64
}

// Result is the outcome of a committed Txn: Err is nil when it is durable,
// and then Positions has one entry per appended record, in the order they
// were added.
type Result struct {
	Err       error
	Positions []Position
}

const (
	maxKeyBytes   = 1 << 16
	maxStateKey   = 1 << 10
	maxStateValue = 1 << 20
)

// check refuses what can never commit, before it is queued.
func (s *Spool) checkTxn(t *Txn) error {
	if t == nil || t.empty() {
		return fmt.Errorf("%w: empty txn", ErrInvalid)
	}
	if t.bytes > s.opts.MaxBatchBytes {
		return fmt.Errorf("%w: txn holds %d bytes of records, more than MaxBatchBytes (%d)", ErrTooLarge, t.bytes, s.opts.MaxBatchBytes)
	}
	for _, a := range t.appends {
		if err := s.checkAppend(a); err != nil {
			return err
		}
	}
	for _, c := range t.cursors {
		if _, err := s.part(c.stream, c.partition); err != nil {
			return err
		}
		if c.name == "" || bytes.IndexByte([]byte(c.name), 0) >= 0 {
			return fmt.Errorf("%w: cursor name must be non-empty and hold no NUL byte", ErrInvalid)
		}
	}
	for _, p := range append(t.puts, t.expects...) {
		if p.key == "" || len(p.key) > maxStateKey || len(p.value) > maxStateValue {
			return fmt.Errorf("%w: state key must be 1 to %d bytes and its value at most %d", ErrInvalid, maxStateKey, maxStateValue)
		}
	}
	return nil
}

func (s *Spool) checkAppend(a appendOp) error {
	_, cfg, err := s.stream(a.stream)
	if err != nil {
		return err
	}
	if a.partition != -1 && (a.partition < 0 || a.partition >= cfg.Partitions) {
		return fmt.Errorf("%w: stream %q has partitions 0 to %d, got %d", ErrInvalid, a.stream, cfg.Partitions-1, a.partition)
	}
	for i := range a.recs {
		if len(a.recs[i].Key) > maxKeyBytes {
			return fmt.Errorf("%w: record key of %d bytes; keys are at most %d", ErrTooLarge, len(a.recs[i].Key), maxKeyBytes)
		}
		// Refused here, not in the commit, where it would fail every Txn
		// of the group.
		if _, err := recordNanos(a.recs[i].Time); err != nil {
			return fmt.Errorf("%w: record %d for stream %q: %w", ErrInvalid, i, a.stream, err)
		}
	}
	return nil
}
