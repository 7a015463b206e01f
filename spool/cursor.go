package spool

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Cursor is a named, durable read position on one partition.
type Cursor struct {
	Name      string
	Stream    string
	Partition int
	Offset    uint64 // the next offset its reader wants
	Protect   bool   // retention keeps what it has not passed
}

// Cursor returns the named cursor on one partition; ok is false if it was
// never set (or was deleted).
func (s *Spool) Cursor(name, stream string, p int) (c Cursor, ok bool, err error) {
	if s.closed.Load() {
		return c, false, ErrClosed
	}
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCursors).Get(cursorKey(name, stream, p))
		if v == nil {
			return nil
		}
		off, protect, valid := decodeCursor(v)
		if !valid {
			return &CorruptError{Stream: stream, Partition: p, Err: fmt.Errorf("cursor %q has %d bytes, want 9", name, len(v))}
		}
		c, ok = Cursor{Name: name, Stream: stream, Partition: p, Offset: off, Protect: protect}, true
		return nil
	})
	return c, ok, err
}

// Cursors returns every cursor, ordered by name, stream and partition.
func (s *Spool) Cursors() ([]Cursor, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.cursors()
}

func (s *Spool) cursors() ([]Cursor, error) {
	var out []Cursor
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			name, stream, p, ok := parseCursorKey(k)
			off, protect, valid := decodeCursor(v)
			if !ok || !valid {
				return fmt.Errorf("%w: malformed cursor %q", ErrCorrupt, k)
			}
			out = append(out, Cursor{Name: name, Stream: stream, Partition: p, Offset: off, Protect: protect})
			return nil
		})
	})
	return out, err
}

// State returns the value stored under key, or nil if there is none. The
// slice is the caller's.
func (s *Spool) State(key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		if got := tx.Bucket(bucketState).Get([]byte(key)); got != nil {
			v = append([]byte{}, got...)
		}
		return nil
	})
	return v, err
}

// Offsets returns a partition's oldest held offset and the offset its next
// record will get, as of the last commit.
func (s *Spool) Offsets(stream string, p int) (start, next uint64, err error) {
	part, err := s.part(stream, p)
	if err != nil {
		return 0, 0, err
	}
	m := part.load()
	return m.start, m.next, nil
}
