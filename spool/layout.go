package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The file layout, all in one bbolt file:
//
//	meta/format              "1"
//	meta/epoch               16 random bytes, made when the file is created
//	streams/<name>           StreamConfig as JSON
//	data/<name>/<be32 p>/next    be64: the offset the next record gets
//	data/<name>/<be32 p>/start   be64: the oldest offset held (batch or gap)
//	data/<name>/<be32 p>/bytes   be64: stored bytes of the partition's batches
//	data/<name>/<be32 p>/b/<be64 base>/v  one batch, as AppendBatch wrote it
//	data/<name>/<be32 p>/g/<be64 from>  one gap, as encodeGap wrote it
//	cursors/<name>\x00<stream>\x00<be32 p>  be64 offset + 1 byte flags
//	state/<key>              opaque bytes of the layers above
//
// Big-endian keys sort by number, so a bucket cursor's Seek finds the batch
// holding an offset without a scan.
//
// Each batch sits alone in a bucket of its own. bbolt copies a whole leaf
// page on every change to it and never splits a leaf of four keys or fewer,
// so batches kept side by side as values would be copied again at every
// commit until their leaf fills: several times their size in writes, which
// wears out the SD cards edge boxes run on. A bucket holding one large value
// gets pages of its own, written once; a small one (under a quarter page)
// is stored inline in its parent's leaf, which is as cheap.
var (
	bucketMeta    = []byte("meta")
	bucketStreams = []byte("streams")
	bucketData    = []byte("data")
	bucketCursors = []byte("cursors")
	bucketState   = []byte("state")

	keyFormat  = []byte("format")
	keyEpoch   = []byte("epoch")
	keyBatches = []byte("b")
	keyBatch   = []byte("v") // the batch inside its own bucket
	keyGaps    = []byte("g")
	keyNext    = []byte("next")
	keyStart   = []byte("start")
	keyBytes   = []byte("bytes")
)

// formatVersion is the layout above. A spool with another one is refused.
// (Format 1 kept batches as plain values; it never shipped in a release.)
const formatVersion = "2"

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// partBucket returns the bucket of one partition, or an error naming what is
// missing (which, for a stream the spool knows, means damage).
func partBucket(tx *bolt.Tx, stream string, p int) (*bolt.Bucket, error) {
	data := tx.Bucket(bucketData)
	if data == nil {
		return nil, fmt.Errorf("%w: bucket data is missing", ErrCorrupt)
	}
	sb := data.Bucket([]byte(stream))
	if sb == nil {
		return nil, &CorruptError{Stream: stream, Partition: p, Err: fmt.Errorf("stream bucket is missing")}
	}
	pb := sb.Bucket(be32(uint32(p)))
	if pb == nil || pb.Bucket(keyBatches) == nil || pb.Bucket(keyGaps) == nil {
		return nil, &CorruptError{Stream: stream, Partition: p, Err: fmt.Errorf("partition bucket is missing")}
	}
	return pb, nil
}

// partMeta is a partition's metadata, as stored under its bucket.
type partMeta struct {
	next, start uint64
	bytes       int64
}

func readPartMeta(pb *bolt.Bucket) (partMeta, error) {
	get := func(k []byte) (uint64, error) {
		v := pb.Get(k)
		if len(v) != 8 {
			return 0, fmt.Errorf("%w: partition key %q has %d bytes, want 8", ErrCorrupt, k, len(v))
		}
		return binary.BigEndian.Uint64(v), nil
	}
	var m partMeta
	var err error
	var b uint64
	if m.next, err = get(keyNext); err != nil {
		return m, err
	}
	if m.start, err = get(keyStart); err != nil {
		return m, err
	}
	if b, err = get(keyBytes); err != nil {
		return m, err
	}
	m.bytes = int64(b)
	if m.start > m.next {
		return m, fmt.Errorf("%w: start %d is past next %d", ErrCorrupt, m.start, m.next)
	}
	return m, nil
}

func writePartMeta(pb *bolt.Bucket, m partMeta) error {
	for _, kv := range []struct {
		k []byte
		v uint64
	}{{keyNext, m.next}, {keyStart, m.start}, {keyBytes, uint64(m.bytes)}} {
		if err := pb.Put(kv.k, be64(kv.v)); err != nil {
			return err
		}
	}
	return nil
}

// putBatch stores one encoded batch under its base offset.
func putBatch(batches *bolt.Bucket, base uint64, b []byte) error {
	bb, err := batches.CreateBucket(be64(base))
	if err != nil {
		return err
	}
	return bb.Put(keyBatch, b)
}

// batchValue returns the batch stored under key k of the batches bucket, as
// a cursor there found it (v is nil for a bucket), or nil if k holds none.
func batchValue(batches *bolt.Bucket, k, v []byte) []byte {
	if v != nil {
		return nil // a plain value: not how batches are stored
	}
	bb := batches.Bucket(k)
	if bb == nil {
		return nil
	}
	return bb.Get(keyBatch)
}

// createPartition makes the buckets of a new, empty partition.
func createPartition(sb *bolt.Bucket, p int) error {
	pb, err := sb.CreateBucketIfNotExists(be32(uint32(p)))
	if err != nil {
		return err
	}
	for _, k := range [][]byte{keyBatches, keyGaps} {
		if _, err := pb.CreateBucketIfNotExists(k); err != nil {
			return err
		}
	}
	if pb.Get(keyNext) != nil {
		return nil
	}
	return writePartMeta(pb, partMeta{})
}

// cursorKey is the key of a named cursor on one partition.
func cursorKey(name, stream string, p int) []byte {
	k := make([]byte, 0, len(name)+len(stream)+6)
	k = append(k, name...)
	k = append(k, 0)
	k = append(k, stream...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(p))
}

// parseCursorKey splits a cursor key; ok is false for a malformed one.
func parseCursorKey(k []byte) (name, stream string, p int, ok bool) {
	if len(k) < 6 {
		return "", "", 0, false
	}
	body, pb := k[:len(k)-4], k[len(k)-4:]
	if body[len(body)-1] != 0 {
		return "", "", 0, false
	}
	body = body[:len(body)-1]
	for i, c := range body {
		if c == 0 {
			return string(body[:i]), string(body[i+1:]), int(binary.BigEndian.Uint32(pb)), true
		}
	}
	return "", "", 0, false
}

const cursorProtects = 1 // flag: retention keeps what this cursor has not passed

func encodeCursor(off uint64, protect bool) []byte {
	v := be64(off)
	var f byte
	if protect {
		f = cursorProtects
	}
	return append(v, f)
}

func decodeCursor(v []byte) (off uint64, protect bool, ok bool) {
	if len(v) != 9 {
		return 0, false, false
	}
	return binary.BigEndian.Uint64(v), v[8]&cursorProtects != 0, true
}
