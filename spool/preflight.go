package spool

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page, as its internal/common package lays it out:
// a 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (16), the freelist page id, the high-water page id
// and the txid (8 each), and an FNV-64a checksum of all that.
const (
	boltMagic       = 0xED0CDAED
	boltMetaOffset  = 16
	boltMetaSumLen  = 56 // bytes the checksum covers
	boltMetaPageLen = boltMetaOffset + boltMetaSumLen + 8
)

// preflight refuses a bbolt file shorter than its newest valid meta page
// says it is. bbolt reads the freelist while it opens a file for writing,
// usually from a page near the end: in a truncated file that is a memory
// fault inside bolt.Open, after it has taken the file's lock. A file that
// does not exist, or whose meta pages are unreadable, is left to bbolt.
func preflight(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	first, ok := readBoltMeta(f, 0)
	var need int64
	if ok {
		need = first.size
		if second, ok := readBoltMeta(f, first.pageSize); ok && second.txid > first.txid {
			need = second.size
		}
	}
	if fi.Size() < need {
		return fmt.Errorf("%w: the file is truncated: %d bytes, but its metadata says %d", ErrCorrupt, fi.Size(), need)
	}
	return nil
}

type boltMeta struct {
	pageSize int64
	size     int64 // high-water page id × page size
	txid     uint64
}

// readBoltMeta reads the meta page at off; ok is false unless its magic and
// checksum are right.
func readBoltMeta(r io.ReaderAt, off int64) (boltMeta, bool) {
	var b [boltMetaPageLen]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[boltMetaOffset:]
	le := binary.NativeEndian
	h := fnv.New64a()
	_, _ = h.Write(m[:boltMetaSumLen])
	if le.Uint32(m[0:]) != boltMagic || h.Sum64() != le.Uint64(m[boltMetaSumLen:]) {
		return boltMeta{}, false
	}
	pageSize := int64(le.Uint32(m[8:]))
	return boltMeta{pageSize: pageSize, size: int64(le.Uint64(m[40:])) * pageSize, txid: le.Uint64(m[48:])}, true
}
