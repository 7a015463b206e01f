package spool

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is; several arrive wrapped in a
// typed error that carries the stream, partition and offset.
var (
	// ErrClosed is returned by every call on a spool after Close, and to
	// pending commits that Close cancelled before they were written.
	ErrClosed = errors.New("spool is closed")
	// ErrUnknownStream is returned when a call names a stream that was never
	// created with EnsureStream.
	ErrUnknownStream = errors.New("unknown stream")
	// ErrFull is returned by a commit that would take a stream with the
	// "block" policy past its MaxBytes when retention cannot free enough
	// already-consumed data. Nothing of that commit is stored. It is
	// transient: the producer should retry once the consumer catches up.
	ErrFull = errors.New("stream is full")
	// ErrTooLarge is returned for one commit larger than MaxBatchBytes, or
	// larger than its stream's whole MaxBytes. It will never succeed as is.
	ErrTooLarge = errors.New("too large")
	// ErrConflict is returned by a commit whose ExpectState precondition did
	// not hold. Nothing of that commit is stored.
	ErrConflict = errors.New("state precondition failed")
	// ErrOutOfRange is returned when a read starts below the oldest offset
	// the partition still holds, or above its next offset.
	ErrOutOfRange = errors.New("offset out of range")
	// ErrCorrupt marks damaged data: a batch whose CRC or structure is wrong,
	// metadata that disagrees with the data, or a bbolt page that cannot be
	// read. It comes wrapped in a *CorruptError where a place is known.
	ErrCorrupt = errors.New("spool data is corrupt")
	// ErrInvalid is returned for an argument that can never be valid
	// (an empty txn, a partition out of range, a bad stream config).
	ErrInvalid = errors.New("invalid argument")
)

// CorruptError names the damaged place. Err wraps ErrCorruptBatch for a
// batch that fails its CRC or decoding.
type CorruptError struct {
	Stream    string
	Partition int
	Offset    uint64 // base offset of the damaged batch, or the first offset affected
	Err       error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("stream %q partition %d offset %d: %v", e.Stream, e.Partition, e.Offset, e.Err)
}

// Unwrap lets errors.Is find both ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// OutOfRangeError says which offsets a partition holds when a read asked for
// one outside them.
type OutOfRangeError struct {
	Stream    string
	Partition int
	Offset    uint64 // what was asked for
	Start     uint64 // the oldest offset still held (or covered by a gap)
	Next      uint64 // the offset the next record will get
}

func (e *OutOfRangeError) Error() string {
	return fmt.Sprintf("stream %q partition %d: offset %d is outside [%d, %d]", e.Stream, e.Partition, e.Offset, e.Start, e.Next)
}

// Unwrap lets errors.Is find ErrOutOfRange.
func (e *OutOfRangeError) Unwrap() error { return ErrOutOfRange }
