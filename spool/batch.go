package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Header is a small key/value pair carried with a record: site, topic, metric, content type.
type Header struct {
	Key   string
	Value []byte
}

// Record is one message in a stream.
type Record struct {
	Key     []byte
	Value   []byte
	Time    time.Time // event time; stored as Unix nanoseconds (UTC; monotonic reading dropped)
	Headers []Header
}

// Codec is the compression applied to a batch's records section.
type Codec uint8

// The codecs a batch can use.
const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
)

// String returns "none", "zstd", or "codec(N)" for an unknown codec.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

const (
	// BatchHeaderSize is the length of the fixed header that precedes the records section.
	BatchHeaderSize = 40
	// BatchVersion is the format version AppendBatch writes and the only one the decoder accepts.
	BatchVersion = 1
	// MaxBatchRecordsBytes bounds the uncompressed records section (decompression-bomb guard).
	MaxBatchRecordsBytes = 64 << 20
)

// ErrCorruptBatch is wrapped by every error of VerifyBatch and DecodeBatch: the bytes are not a valid batch
// (torn, truncated, bit-flipped, or not a batch at all). The message after it names the specific reason.
var ErrCorruptBatch = errors.New("corrupt batch")

// BatchHeader is the decoded 40-byte header of a batch. A batch is the unit of storage, compression and
// replication: the bytes AppendBatch returns are stored in bbolt as they are and later sent to the hub unchanged, so
// the format below is a public contract. Changing it means a new BatchVersion, never a silent edit; the golden tests
// in batch_test.go pin it.
//
// Batch layout (integers are big-endian):
//
//	offset  size  field
//	0       1     version (BatchVersion = 1)
//	1       1     codec (0 none, 1 zstd)
//	2       2     reserved, must be 0
//	4       4     CRC32C (Castagnoli) of bytes [8:end)
//	8       8     base offset: the offset of the first record
//	16      4     record count (≥ 1)
//	20      8     min time: the smallest record time, Unix ns (int64)
//	28      8     max time: the largest record time, Unix ns (int64)
//	36      4     RecordsLen: length of the uncompressed records section (≤ MaxBatchRecordsBytes)
//	40      …     records section, compressed per codec: for none, exactly RecordsLen bytes;
//	              for zstd, one or more zstd frames that decompress to exactly RecordsLen bytes
//
// The CRC does not cover bytes [0:8); the decoder checks them strictly instead (version 1, codec 0 or 1, reserved 0,
// and a zstd payload must start with the zstd frame magic), so a single flipped bit there is still detected.
//
// Records section (before compression): the records in offset order, each one
//
//	uvarint  length of the rest of this record, in bytes
//	uvarint  time delta: record time − min time (≥ 0)
//	uvarint  key length, then the key
//	uvarint  value length, then the value
//	uvarint  header count, then per header: uvarint key length, key, uvarint value length, value
//
// Every uvarint is minimal (no redundant 0x80 continuation bytes), every record's fields fill its declared length
// exactly, and the section ends with the last record, so a batch has exactly one encoding for CodecNone.
//
// Times: a record time is stored as Unix nanoseconds in UTC (location and monotonic reading are dropped), which
// covers 1677-09-21T00:12:43.145224193Z to 2262-04-11T23:47:16.854775807Z. The zero time.Time is stored as
// math.MinInt64 (one nanosecond before that range) and decodes as the zero time.Time again.
//
// Empty fields: the format does not tell nil from empty. A zero-length Key, Value or Header.Value, and an empty
// Headers list, decode as nil.
type BatchHeader struct {
	Version    uint8
	Codec      Codec
	BaseOffset uint64
	Count      uint32
	MinTime    int64  // Unix ns, smallest record time
	MaxTime    int64  // Unix ns, largest record time
	RecordsLen uint32 // length of the uncompressed records section
	Size       int    // total encoded length (header + stored payload), filled by parse
}

// NextOffset returns the offset after the batch's last record: BaseOffset + Count.
func (h BatchHeader) NextOffset() uint64 { return h.BaseOffset + uint64(h.Count) }

const (
	// zeroTimeNanos stores the zero time.Time; no other time encodes to it.
	zeroTimeNanos = math.MinInt64
	// minRecordLen is the smallest encoded record: its length, delta, key length, value length, header count.
	minRecordLen = 5
	// maxPooledScratch is the largest scratch buffer kept for reuse; rarer, larger batches allocate.
	maxPooledScratch = 4 << 20
	// zstdOverAlloc is the slack the zstd decoder wants past the output to use its fast copy loops.
	zstdOverAlloc = 16
	// maxInternedKeys is how many distinct header keys one decode shares between records.
	maxInternedKeys = 8
)

var (
	batchCRC = crc32.MakeTable(crc32.Castagnoli)
	// zstdMagic starts every zstd frame (0xFD2FB528, little-endian).
	zstdMagic = [4]byte{0x28, 0xb5, 0x2f, 0xfd}
	// minBatchTime and maxBatchTime bound the non-zero times that Unix nanoseconds can store.
	minBatchTime = time.Unix(0, math.MinInt64+1)
	maxBatchTime = time.Unix(0, math.MaxInt64)
)

// zstdEncoder compresses every batch; EncodeAll is safe for concurrent use. SpeedDefault (zstd level 3): on the
// telemetry benchmark it matches the ratio of SpeedBetterCompression (7.7×) at about half the CPU, and Best gains
// little (8.0×) for 7× the CPU — CPU that small ARM edge nodes lack. Concurrency GOMAXPROCS: a group commit encodes
// its partitions' batches in parallel, and compression is most of a commit's CPU. A 1 MiB window keeps each
// encoder's state near 4 MB (not 18 MB) at the same ratio: a batch's records resemble their neighbours, not data
// megabytes back. At most 4 encoders, so a many-core hub does not hold
// cores × 4 MB.
var zstdEncoder = mustZstd(zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
	zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)), zstd.WithWindowSize(1<<20)))

// zstdDecoder decompresses batches. DecodeAll writes into a caller buffer of cap RecordsLen (plus the decoder's
// slack) and, with the cap limit, never grows it, so a payload that claims or produces more fails without
// allocating; max memory and max window refuse anything beyond MaxBatchRecordsBytes. Concurrency 0 allows one
// decode per CPU, for readers and replication sessions running side by side.
var zstdDecoder = mustZstd(zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true),
	zstd.WithDecoderMaxMemory(MaxBatchRecordsBytes+zstdOverAlloc), zstd.WithDecoderMaxWindow(MaxBatchRecordsBytes)))

// mustZstd panics at package initialisation if the zstd options above are wrong: a programming error.
func mustZstd[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("spool: zstd options: %v", err))
	}
	return v
}

// batchScratch holds the buffers of one zstd encode: the uncompressed section and its compressed form.
type batchScratch struct{ section, compressed []byte }

var batchScratchPool = sync.Pool{New: func() any { return new(batchScratch) }}

// AppendBatch encodes recs (len ≥ 1) as one batch starting at base and appends it to dst.
//
// It fails, leaving dst as it was, when recs is empty, the codec is unknown, base+len(recs) overflows, a record
// time is outside the stored range, or the records section would exceed MaxBatchRecordsBytes (which also keeps
// every length far below the format's uint32 limit).
func AppendBatch(dst []byte, base uint64, codec Codec, recs []Record) ([]byte, error) {
	p, err := planBatch(base, codec, recs)
	out := dst
	if err == nil {
		out, err = appendPayload(dst, &p, recs)
	}
	if err != nil {
		return dst, fmt.Errorf("append batch: %w", err)
	}
	putHeader(out[len(dst):], p.header)
	return out, nil
}

// batchPlan is what the first pass over a batch's records learns: its header, and bounds on its section's length.
type batchPlan struct {
	header       BatchHeader
	lower, upper uint64 // bounds on the section length (a record's time delta takes 1 to 10 bytes)
}

// planBatch validates recs and finds the time range and section bounds, without touching the data.
func planBatch(base uint64, codec Codec, recs []Record) (batchPlan, error) {
	switch {
	case len(recs) == 0:
		return batchPlan{}, errors.New("no records")
	case codec != CodecNone && codec != CodecZstd:
		return batchPlan{}, fmt.Errorf("unknown codec %v", codec)
	case uint64(len(recs)) > math.MaxUint32 || base > math.MaxUint64-uint64(len(recs)):
		return batchPlan{}, fmt.Errorf("base offset %d + %d records overflows the offset space", base, len(recs))
	}
	p := batchPlan{header: BatchHeader{Version: BatchVersion, Codec: codec, BaseOffset: base, Count: uint32(len(recs)),
		MinTime: math.MaxInt64, MaxTime: math.MinInt64}}
	for i := range recs {
		ns, err := recordNanos(recs[i].Time)
		if err != nil {
			return batchPlan{}, fmt.Errorf("record %d: %w", i, err)
		}
		p.header.MinTime, p.header.MaxTime = min(p.header.MinTime, ns), max(p.header.MaxTime, ns)
		fixed := recordFieldsLen(&recs[i])
		p.lower += uint64(uvarintLen(fixed+1)) + 1 + fixed
		p.upper += uint64(uvarintLen(fixed+binary.MaxVarintLen64)) + binary.MaxVarintLen64 + fixed
		if p.lower > MaxBatchRecordsBytes { // this also bounds every key, value and header well below 2³²
			return batchPlan{}, fmt.Errorf("record %d: %w", i, sectionTooLarge(p.lower))
		}
	}
	return p, nil
}

func sectionTooLarge[T int | uint64](n T) error {
	return fmt.Errorf("records section is at least %d bytes, over the %d-byte limit; split the records into smaller batches",
		n, MaxBatchRecordsBytes)
}

// recordNanos returns the stored form of a record time.
func recordNanos(t time.Time) (int64, error) {
	if t.IsZero() {
		return zeroTimeNanos, nil
	}
	if t.Before(minBatchTime) || t.After(maxBatchTime) {
		return 0, fmt.Errorf("time %s is outside the range a batch stores (%s to %s)",
			t.UTC().Format(time.RFC3339Nano), minBatchTime.UTC().Format(time.RFC3339Nano), maxBatchTime.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// timeFromNanos is the inverse of recordNanos.
func timeFromNanos(ns int64) time.Time {
	if ns == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// recordFieldsLen returns the encoded length of a record's key, value and headers: all but its length and time
// delta. It cannot overflow: the lengths of slices in memory sum to far less than 2⁶⁴.
func recordFieldsLen(r *Record) uint64 {
	n := uint64(uvarintLen(uint64(len(r.Headers)))) + prefixedLen(len(r.Key)) + prefixedLen(len(r.Value))
	for j := range r.Headers {
		n += prefixedLen(len(r.Headers[j].Key)) + prefixedLen(len(r.Headers[j].Value))
	}
	return n
}

func prefixedLen(n int) uint64 { return uint64(uvarintLen(uint64(n)) + n) }

// appendRecords appends the records section. planBatch has validated recs and the caller grew dst by its upper bound,
// so it copies each byte once and does not allocate.
func appendRecords(dst []byte, minNanos int64, recs []Record) []byte {
	for i := range recs {
		r := &recs[i]
		ns, _ := recordNanos(r.Time)
		delta := uint64(ns) - uint64(minNanos)
		dst = binary.AppendUvarint(dst, uint64(uvarintLen(delta))+recordFieldsLen(r))
		dst = binary.AppendUvarint(dst, delta)
		dst = appendUvarintBytes(dst, r.Key)
		dst = appendUvarintBytes(dst, r.Value)
		dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
		for j := range r.Headers {
			dst = binary.AppendUvarint(dst, uint64(len(r.Headers[j].Key)))
			dst = append(dst, r.Headers[j].Key...)
			dst = appendUvarintBytes(dst, r.Headers[j].Value)
		}
	}
	return dst
}

func appendUvarintBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// appendPayload appends room for the header and the stored records section, and sets p.header.RecordsLen.
func appendPayload(dst []byte, p *batchPlan, recs []Record) ([]byte, error) {
	if p.header.Codec == CodecZstd {
		return appendZstd(dst, p, recs)
	}
	start := len(dst)
	out := slices.Grow(dst, BatchHeaderSize+int(p.upper))[:start+BatchHeaderSize]
	out = appendRecords(out, p.header.MinTime, recs)
	n := len(out) - start - BatchHeaderSize
	if n > MaxBatchRecordsBytes {
		return dst, sectionTooLarge(n)
	}
	p.header.RecordsLen = uint32(n)
	return out, nil
}

// appendZstd builds the section in a pooled buffer, compresses it into another, and appends header room and the
// compressed bytes to dst, growing dst once.
func appendZstd(dst []byte, p *batchPlan, recs []Record) ([]byte, error) {
	s := batchScratchPool.Get().(*batchScratch)
	defer func() {
		if cap(s.section) <= maxPooledScratch && cap(s.compressed) <= maxPooledScratch {
			batchScratchPool.Put(s)
		}
	}()
	s.section = appendRecords(slices.Grow(s.section[:0], int(p.upper)), p.header.MinTime, recs)
	if len(s.section) > MaxBatchRecordsBytes {
		return dst, sectionTooLarge(len(s.section))
	}
	p.header.RecordsLen = uint32(len(s.section))
	s.compressed = zstdEncoder.EncodeAll(s.section, s.compressed[:0])
	start := len(dst)
	dst = slices.Grow(dst, BatchHeaderSize+len(s.compressed))[:start+BatchHeaderSize]
	return append(dst, s.compressed...), nil
}

// putHeader writes h into b[:BatchHeaderSize] and seals b with the CRC of b[8:].
func putHeader(b []byte, h BatchHeader) {
	b[0], b[1], b[2], b[3] = h.Version, byte(h.Codec), 0, 0
	binary.BigEndian.PutUint64(b[8:], h.BaseOffset)
	binary.BigEndian.PutUint32(b[16:], h.Count)
	binary.BigEndian.PutUint64(b[20:], uint64(h.MinTime))
	binary.BigEndian.PutUint64(b[28:], uint64(h.MaxTime))
	binary.BigEndian.PutUint32(b[36:], h.RecordsLen)
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], batchCRC))
}

// uvarintLen returns the length of x as a uvarint: ⌈bits/7⌉ (at least 1), by multiply and shift as protobuf does.
func uvarintLen(x uint64) int { return int(9*uint32(bits.Len64(x))+64) / 64 }

// VerifyBatch checks the length, version, codec and CRC of b without decompressing; b must be exactly one batch.
// It also checks that the header is consistent (count ≥ 1, min time ≤ max time, RecordsLen within bounds and, for
// CodecNone, equal to the payload length). Every error wraps ErrCorruptBatch and comes with a zero header.
func VerifyBatch(b []byte) (BatchHeader, error) {
	h, err := parseHeader(b)
	if err != nil {
		return BatchHeader{}, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
	}
	return h, nil
}

// DecodeBatch verifies b and returns its records. The records do not alias b (b may be bbolt's mmap): their keys and
// values share one buffer that DecodeBatch allocates. Every error wraps ErrCorruptBatch; when b's header verified
// but its records section is bad, the header is returned with the error, so the caller can name the offsets lost.
func DecodeBatch(b []byte) (BatchHeader, []Record, error) {
	h, err := VerifyBatch(b)
	if err != nil {
		return h, nil, err
	}
	section, err := decompress(h, b[BatchHeaderSize:])
	if err == nil {
		var recs []Record
		if recs, err = decodeRecords(h, section); err == nil {
			return h, recs, nil
		}
	}
	return h, nil, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
}

func parseHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("batch is %d bytes, shorter than the %d-byte header", len(b), BatchHeaderSize)
	}
	be := binary.BigEndian
	h := BatchHeader{Version: b[0], Codec: Codec(b[1]), BaseOffset: be.Uint64(b[8:]), Count: be.Uint32(b[16:]),
		MinTime: int64(be.Uint64(b[20:])), MaxTime: int64(be.Uint64(b[28:])), RecordsLen: be.Uint32(b[36:]), Size: len(b)}
	switch {
	case h.Version != BatchVersion:
		return h, fmt.Errorf("unknown version %d (this build reads %d)", h.Version, BatchVersion)
	case h.Codec != CodecNone && h.Codec != CodecZstd:
		return h, fmt.Errorf("unknown codec %v", h.Codec)
	case b[2] != 0 || b[3] != 0:
		return h, fmt.Errorf("reserved bytes are %#04x, want 0", be.Uint16(b[2:]))
	}
	if stored, computed := be.Uint32(b[4:]), crc32.Checksum(b[8:], batchCRC); stored != computed {
		return h, fmt.Errorf("crc mismatch: stored %#08x, computed %#08x", stored, computed)
	}
	return h, checkHeader(h, b[BatchHeaderSize:])
}

// checkHeader checks what the CRC cannot: that a well-sealed header describes a batch this format can hold.
func checkHeader(h BatchHeader, payload []byte) error {
	switch {
	case h.Count == 0:
		return errors.New("record count is 0")
	case h.BaseOffset > math.MaxUint64-uint64(h.Count):
		return fmt.Errorf("base offset %d + count %d overflows the offset space", h.BaseOffset, h.Count)
	case h.MinTime > h.MaxTime:
		return fmt.Errorf("min time %d is after max time %d", h.MinTime, h.MaxTime)
	case h.RecordsLen > MaxBatchRecordsBytes:
		return fmt.Errorf("records length %d is over the %d-byte limit", h.RecordsLen, MaxBatchRecordsBytes)
	case uint64(h.Count)*minRecordLen > uint64(h.RecordsLen):
		return fmt.Errorf("%d records cannot fit in a %d-byte records section", h.Count, h.RecordsLen)
	case h.Codec == CodecNone && len(payload) != int(h.RecordsLen):
		return fmt.Errorf("payload is %d bytes, but records length is %d", len(payload), h.RecordsLen)
	case h.Codec == CodecZstd && (len(payload) < len(zstdMagic) || [4]byte(payload) != zstdMagic):
		return errors.New("zstd payload does not start with a zstd frame")
	}
	return nil
}

// decompress returns the records section in a new buffer: the one allocation the records' bytes share.
func decompress(h BatchHeader, payload []byte) ([]byte, error) {
	if h.Codec == CodecNone {
		return slices.Clone(payload), nil
	}
	out, err := zstdDecoder.DecodeAll(payload, make([]byte, 0, int(h.RecordsLen)+zstdOverAlloc))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(out) != int(h.RecordsLen) {
		return nil, fmt.Errorf("zstd payload decompresses to %d bytes, but records length is %d", len(out), h.RecordsLen)
	}
	return out, nil
}

// decodeRecords parses a records section strictly: every record must fill its declared length exactly, the section
// must hold exactly h.Count records, and the record times must span exactly [h.MinTime, h.MaxTime].
func decodeRecords(h BatchHeader, section []byte) ([]Record, error) {
	r := recordReader{b: section}
	recs := make([]Record, h.Count)
	var headers []Header // every record's headers, in one array; rebased once it stops growing
	span := uint64(h.MaxTime) - uint64(h.MinTime)
	sawMin, sawMax := false, false
	for i := range recs {
		start := r.off
		delta := r.record(&recs[i], &headers)
		if r.err == nil && delta > span {
			r.err = fmt.Errorf("time delta %d is past max time (span %d)", delta, span)
		}
		if r.err != nil {
			return nil, fmt.Errorf("record %d at section offset %d: %w", i, start, r.err)
		}
		recs[i].Time = timeFromNanos(int64(uint64(h.MinTime) + delta))
		if i == 0 { // expect the other records to carry as many headers: one allocation, not one per doubling
			headers = slices.Grow(headers, int(min(uint64(len(headers))*uint64(len(recs)-1), uint64(len(section)-r.off)/2)))
		}
		sawMin, sawMax = sawMin || delta == 0, sawMax || delta == span
	}
	switch {
	case r.off != len(section):
		return nil, fmt.Errorf("%d trailing bytes after the last of %d records", len(section)-r.off, h.Count)
	case !sawMin:
		return nil, fmt.Errorf("no record has the min time %d", h.MinTime)
	case !sawMax:
		return nil, fmt.Errorf("no record has the max time %d", h.MaxTime)
	}
	rebaseHeaders(recs, headers)
	return recs, nil
}

// rebaseHeaders points each record's Headers into the final headers array: appends may have moved it.
func rebaseHeaders(recs []Record, all []Header) {
	off := 0
	for i := range recs {
		if n := len(recs[i].Headers); n > 0 {
			recs[i].Headers = all[off : off+n : off+n]
			off += n
		}
	}
}

// recordReader reads records from a section. The first error sticks: later reads return zero values.
type recordReader struct {
	b     []byte
	off   int
	end   int // end of the current record
	err   error
	keys  [maxInternedKeys]string // header keys seen so far, shared by later records
	nkeys int
}

// record reads one record into rec, appending its headers to all, and returns its time delta.
func (r *recordReader) record(rec *Record, all *[]Header) uint64 {
	r.end = len(r.b)
	r.end = r.off + r.length("record length", "", 1)
	delta := r.uvarint("time delta", "")
	rec.Key, rec.Value = r.bytes("key"), r.bytes("value")
	hc := r.length("header count", "", 2)
	start := len(*all)
	for j := 0; j < hc && r.err == nil; j++ {
		k, v := r.bytes("header key"), r.bytes("header value")
		*all = append(*all, Header{Key: r.intern(k), Value: v})
	}
	if r.err == nil && r.off != r.end {
		r.err = fmt.Errorf("fields end %d bytes before the record's declared length", r.end-r.off)
	}
	if hc > 0 {
		rec.Headers = (*all)[start:]
	}
	return delta
}

// uvarint reads a minimal uvarint; what+suffix names it in errors (joined only then: decoding must not allocate).
func (r *recordReader) uvarint(what, suffix string) uint64 {
	if r.err != nil {
		return 0
	}
	if r.off < r.end && r.b[r.off] < 0x80 { // one byte: most lengths
		r.off++
		return uint64(r.b[r.off-1])
	}
	v, n := binary.Uvarint(r.b[r.off:r.end])
	switch {
	case n == 0:
		r.err = fmt.Errorf("%s%s: truncated uvarint", what, suffix)
	case n < 0:
		r.err = fmt.Errorf("%s%s: uvarint overflows 64 bits", what, suffix)
	case n != uvarintLen(v):
		r.err = fmt.Errorf("%s%s: non-minimal uvarint (%d bytes for %d)", what, suffix, n, v)
	default:
		r.off += n
		return v
	}
	return 0
}

// length reads a count of items of at least unit bytes each, which must fit in the bytes left before r.end.
func (r *recordReader) length(what, suffix string, unit int) int {
	n := r.uvarint(what, suffix)
	if r.err == nil && n > uint64((r.end-r.off)/unit) {
		r.err = fmt.Errorf("%s%s %d does not fit in the %d bytes left", what, suffix, n, r.end-r.off)
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed field; it returns nil for an empty one and otherwise a slice capped at its end,
// so an append to it cannot overwrite the next field.
func (r *recordReader) bytes(what string) []byte {
	n := r.length(what, " length", 1)
	if n == 0 {
		return nil
	}
	b := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// intern returns b as a string, reusing the string of an equal header key seen earlier in the batch: header keys
// repeat from record to record, so most records allocate no strings.
func (r *recordReader) intern(b []byte) string {
	for _, s := range r.keys[:r.nkeys] {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if r.nkeys < len(r.keys) {
		r.keys[r.nkeys] = s
		r.nkeys++
	}
	return s
}
