package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

var batchCodecs = []Codec{CodecNone, CodecZstd}

// recordsDiff reports how got differs from want, or "". Nil and empty byte slices are equal; times are compared
// as instants, so a time decoded in UTC matches the one encoded in any location.
func recordsDiff(got, want []Record) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := &got[i], &want[i]
		switch {
		case !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value):
			return fmt.Sprintf("record %d: key/value %q/%q, want %q/%q", i, g.Key, g.Value, w.Key, w.Value)
		case !g.Time.Equal(w.Time) || g.Time.IsZero() != w.Time.IsZero():
			return fmt.Sprintf("record %d: time %v, want %v", i, g.Time, w.Time)
		case len(g.Headers) != len(w.Headers):
			return fmt.Sprintf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !bytes.Equal(g.Headers[j].Value, w.Headers[j].Value) {
				return fmt.Sprintf("record %d header %d: %+v, want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
	return ""
}

func mustAppendBatch(t testing.TB, base uint64, codec Codec, recs []Record) []byte {
	t.Helper()
	b, err := AppendBatch(nil, base, codec, recs)
	if err != nil {
		t.Fatalf("AppendBatch: %v", err)
	}
	return b
}

var batchT0 = time.Date(2026, 11, 29, 10, 0, 0, 123_000_000, time.UTC)

func roundTripCases() map[string][]Record {
	many := make([]Header, 300)
	for i := range many {
		many[i] = Header{Key: fmt.Sprintf("h%d", i%10), Value: []byte(strings.Repeat("v", i%7))}
	}
	return map[string][]Record{
		"one record":      {{Key: []byte("meter-0042"), Value: []byte(`{"value":1}`), Time: batchT0}},
		"empty fields":    {{Key: []byte{}, Value: []byte{}, Time: batchT0, Headers: []Header{{Key: "", Value: []byte{}}}}},
		"nil fields":      {{Time: batchT0}, {Key: nil, Value: nil, Time: batchT0}},
		"many headers":    {{Key: []byte("k"), Time: batchT0, Headers: many}, {Time: batchT0}},
		"times unordered": {{Time: batchT0.Add(time.Hour)}, {Time: batchT0}, {Time: batchT0.Add(-time.Hour)}, {Time: batchT0}},
		"zero time":       {{Time: time.Time{}, Value: []byte("no time")}, {Time: batchT0}},
		"only zero time":  {{Time: time.Time{}}, {Time: time.Time{}}},
		"before 1970":     {{Time: time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC)}, {Time: time.Unix(0, -1)}},
		"time extremes":   {{Time: time.Unix(0, math.MinInt64+1)}, {Time: time.Unix(0, math.MaxInt64)}, {}},
		"other location":  {{Time: batchT0.In(time.FixedZone("CET", 3600))}},
		"large value":     {{Key: []byte("big"), Value: bytes.Repeat([]byte("0123456789abcdef"), 1<<16), Time: batchT0}},
		"binary":          {{Key: []byte{0, 0x80, 0xff}, Value: []byte{0xfd, 0x2f, 0xb5, 0x28}, Time: batchT0}},
		"telemetry":       telemetryRecords(1000),
	}
}

func TestBatchRoundTrip(t *testing.T) {
	for name, recs := range roundTripCases() {
		for _, codec := range batchCodecs {
			t.Run(name+"/"+codec.String(), func(t *testing.T) {
				b := mustAppendBatch(t, 7, codec, recs)
				h, got, err := DecodeBatch(b)
				if err != nil {
					t.Fatalf("DecodeBatch: %v", err)
				}
				if d := recordsDiff(got, recs); d != "" {
					t.Fatal(d)
				}
				want := BatchHeader{Version: BatchVersion, Codec: codec, BaseOffset: 7, Count: uint32(len(recs)),
					MinTime: h.MinTime, MaxTime: h.MaxTime, RecordsLen: h.RecordsLen, Size: len(b)}
				if h != want || h.NextOffset() != 7+uint64(len(recs)) {
					t.Fatalf("header %+v, want %+v", h, want)
				}
				if vh, err := VerifyBatch(b); err != nil || vh != h {
					t.Fatalf("VerifyBatch = %+v, %v; want %+v", vh, err, h)
				}
			})
		}
	}
}

// TestDecodeBatchEmptyIsNil pins the documented choice: zero-length fields and no headers decode as nil.
func TestDecodeBatchEmptyIsNil(t *testing.T) {
	recs := []Record{{Key: []byte{}, Value: []byte{}, Headers: []Header{}, Time: batchT0}, {Time: batchT0, Headers: []Header{{Key: "k"}}}}
	_, got, err := DecodeBatch(mustAppendBatch(t, 0, CodecNone, recs))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Key != nil || got[0].Value != nil || got[0].Headers != nil || got[1].Headers[0].Value != nil {
		t.Fatalf("empty fields decoded as %#v, want nil", got)
	}
}

// TestDecodeBatchOwnsItsBytes: the records survive the input being overwritten (bbolt reuses its pages), and
// appending to one field or header list cannot overwrite the next.
func TestDecodeBatchOwnsItsBytes(t *testing.T) {
	recs := []Record{{Key: []byte("k1"), Value: []byte("v1"), Time: batchT0, Headers: []Header{{"h", []byte("x")}}},
		{Key: []byte("k2"), Value: []byte("v2"), Time: batchT0, Headers: []Header{{"h", []byte("y")}}}}
	for _, codec := range batchCodecs {
		b := mustAppendBatch(t, 0, codec, recs)
		_, got, err := DecodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		clear(b)
		_ = append(got[0].Key, "XXXXXXXX"...)
		_ = append(got[0].Value, "XXXXXXXX"...)
		_ = append(got[0].Headers, Header{Key: "X"})
		if d := recordsDiff(got, recs); d != "" {
			t.Fatalf("%v: %s", codec, d)
		}
	}
}

func TestAppendBatchAppends(t *testing.T) {
	recs := telemetryRecords(10)
	prefix := []byte("prefix")
	for _, codec := range batchCodecs {
		b, err := AppendBatch(bytes.Clone(prefix), 3, codec, recs)
		if err != nil || !bytes.HasPrefix(b, prefix) {
			t.Fatalf("%v: AppendBatch = %q..., %v; want the prefix kept", codec, b[:min(len(b), 8)], err)
		}
		if _, err := VerifyBatch(b[len(prefix):]); err != nil {
			t.Fatalf("%v: %v", codec, err)
		}
	}
}

func TestAppendBatchErrors(t *testing.T) {
	mib := make([]byte, 1<<20)
	tooMuch := make([]Record, 64)
	for i := range tooMuch {
		tooMuch[i] = Record{Value: mib, Time: batchT0}
	}
	for name, c := range map[string]struct {
		base  uint64
		codec Codec
		recs  []Record
		want  string
	}{
		"no records":       {0, CodecNone, nil, "no records"},
		"unknown codec":    {0, Codec(7), telemetryRecords(1), "unknown codec codec(7)"},
		"offset overflow":  {math.MaxUint64, CodecNone, telemetryRecords(1), "overflows"},
		"time before 1677": {0, CodecNone, []Record{{Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}}, "outside the range"},
		"time after 2262":  {0, CodecZstd, []Record{{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}}, "outside the range"},
		"sentinel instant": {0, CodecNone, []Record{{Time: time.Unix(0, math.MinInt64)}}, "outside the range"},
		"section too big":  {0, CodecZstd, tooMuch, "split the records"},
	} {
		t.Run(name, func(t *testing.T) {
			dst := []byte("keep")
			b, err := AppendBatch(dst, c.base, c.codec, c.recs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("AppendBatch error = %v, want one containing %q", err, c.want)
			}
			if string(b) != "keep" {
				t.Fatalf("AppendBatch changed dst to %q on error", b)
			}
		})
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecZstd: "zstd", 7: "codec(7)"} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

// goldenRecords are the records of the golden batches. Changing them or the hex below changes the wire format.
var goldenRecords = []Record{
	{Key: []byte("m1"), Value: []byte(`{"v":1}`), Time: time.Unix(0, 1_000), Headers: []Header{{"site", []byte("s7")}}},
	{Key: nil, Value: []byte("x"), Time: time.Unix(0, 800)},
}

// goldenNone is goldenRecords at base offset 100 with CodecNone, annotated field by field.
const goldenNone = "" +
	"01" + "00" + "0000" + "e60dfa13" + // version 1, codec none, reserved, CRC32C of the rest
	"0000000000000064" + // base offset 100
	"00000002" + // 2 records
	"0000000000000320" + "00000000000003e8" + // min time 800 ns, max time 1000 ns
	"0000001d" + // records section: 29 bytes
	"16" + "c801" + "02" + "6d31" + "07" + "7b2276223a317d" + // record 0: 22 bytes, delta 200, key "m1", value `{"v":1}`
	"01" + "04" + "73697465" + "02" + "7337" + // 1 header: "site" = "s7"
	"05" + "00" + "00" + "01" + "78" + "00" // record 1: 5 bytes, delta 0, empty key, value "x", no headers

// goldenZstdRecords are 16 similar readings, so that the zstd golden batch holds a compressed block.
func goldenZstdRecords() []Record {
	recs := make([]Record, 16)
	for i := range recs {
		recs[i] = Record{Key: []byte("meter-0042"), Value: fmt.Appendf(nil, `{"metric":"active_power","value":%d}`, 1000+i*i),
			Time: time.Unix(1_800_000_000+int64(i), 0), Headers: []Header{{"site", []byte("plant-7")}}}
	}
	return recs
}

// goldenZstd is goldenZstdRecords at base offset 100 with CodecZstd, as written by klauspost/compress v1.20.1 (the
// reference zstd CLI decompresses its payload to the same section). A newer encoder may write other bytes; every
// decoder must still read these.
const goldenZstd = "" +
	"010100009c7c2a8c00000000000000640000001018fae27693b4000018fae27a11c5d6000000045c28b52ffd645c03a50600940941000a6d" +
	"657465722d30303432267b226d6574726963223a226163746976655f706f776572222c2276616c7565223a313030307d0104736974650770" +
	"6c616e742d37458094ebdc0331a8d6b90734bcc1960b39d0acf30e3136e497d0123235f882ad1633368cee891a3439a0d9e61d3634b4c4c3" +
	"213831c8afa02531dc9afd283132f085da2c313484f1b630313698dc93343139acc7f037321e20d03bd7b3d8241ede243cbc493cbc493c3c" +
	"36e9577237c98c1191191391191391332622332622334644f32da2ceb764234a381f5212c933d6458671"

func TestBatchGoldenNone(t *testing.T) {
	b := mustAppendBatch(t, 100, CodecNone, goldenRecords)
	if got := hex.EncodeToString(b); got != goldenNone {
		t.Fatalf("the CodecNone encoding changed:\n got %s\nwant %s", got, goldenNone)
	}
	checkGolden(t, goldenNone, BatchHeader{Version: 1, Codec: CodecNone, BaseOffset: 100, Count: 2, MinTime: 800,
		MaxTime: 1000, RecordsLen: 29, Size: len(goldenNone) / 2}, goldenRecords)
}

func TestBatchGoldenZstd(t *testing.T) {
	checkGolden(t, goldenZstd, BatchHeader{Version: 1, Codec: CodecZstd, BaseOffset: 100, Count: 16,
		MinTime: 1_800_000_000e9, MaxTime: 1_800_000_015e9, RecordsLen: 1116, Size: len(goldenZstd) / 2}, goldenZstdRecords())
}

func checkGolden(t *testing.T, golden string, wantHeader BatchHeader, wantRecs []Record) {
	t.Helper()
	b, err := hex.DecodeString(golden)
	if err != nil {
		t.Fatal(err)
	}
	h, recs, err := DecodeBatch(b)
	if err != nil {
		t.Fatalf("golden batch: %v", err)
	}
	if h != wantHeader {
		t.Fatalf("golden header %+v, want %+v", h, wantHeader)
	}
	if d := recordsDiff(recs, wantRecs); d != "" {
		t.Fatalf("golden records: %s", d)
	}
}

// resealBatch recomputes the CRC after a deliberate change, to reach the checks behind it.
func resealBatch(b []byte) []byte {
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// damagedCopy returns a copy of b changed by f.
func damagedCopy(f func(b []byte)) func([]byte) []byte {
	return func(b []byte) []byte { b = bytes.Clone(b); f(b); return b }
}

// damageCases tear, flip and forge batches; each must fail with ErrCorruptBatch and the reason given.
var damageCases = map[string]struct {
	only []Codec // the codecs to damage; nil for both
	f    func([]byte) []byte
	want string
}{
	"flip header bit":    {nil, damagedCopy(func(b []byte) { b[17] ^= 0x10 }), "crc mismatch"},
	"flip crc bit":       {nil, damagedCopy(func(b []byte) { b[5] ^= 0x01 }), "crc mismatch"},
	"flip payload bit":   {nil, damagedCopy(func(b []byte) { b[len(b)-3] ^= 0x04 }), "crc mismatch"},
	"truncate header":    {nil, func(b []byte) []byte { return b[:BatchHeaderSize-1] }, "shorter than"},
	"truncate payload":   {nil, func(b []byte) []byte { return b[:len(b)-1] }, "crc mismatch"},
	"append a byte":      {nil, func(b []byte) []byte { return append(bytes.Clone(b), 0) }, "crc mismatch"},
	"empty":              {nil, func([]byte) []byte { return nil }, "shorter than"},
	"zeroed":             {nil, damagedCopy(func(b []byte) { clear(b) }), "unknown version 0"},
	"version 2":          {nil, damagedCopy(func(b []byte) { b[0] = 2 }), "unknown version 2"},
	"codec 2":            {nil, damagedCopy(func(b []byte) { b[1] = 2 }), "unknown codec codec(2)"},
	"none read as zstd":  {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[1] = 1 }), "zstd frame"},
	"zstd read as none":  {[]Codec{CodecZstd}, damagedCopy(func(b []byte) { b[1] = 0 }), "but records length"},
	"reserved set":       {nil, damagedCopy(func(b []byte) { b[3] = 1 }), "reserved bytes"},
	"records len huge":   {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint32(b[36:], 1<<31); resealBatch(b) }), "over the"},
	"records len short":  {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint32(b[36:], 28); resealBatch(b) }), "records length is 28"},
	"count 0":            {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 0); resealBatch(b) }), "count is 0"},
	"count 3":            {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 3); resealBatch(b) }), "record 2 at section offset 29: record length: truncated"},
	"count 1":            {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 1); resealBatch(b) }), "trailing bytes"},
	"count huge":         {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 1<<31); resealBatch(b) }), "cannot fit"},
	"offset overflow":    {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint64(b[8:], math.MaxUint64); resealBatch(b) }), "overflows"},
	"min after max":      {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint64(b[20:], 2000); resealBatch(b) }), "after max time"},
	"min lowered":        {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint64(b[20:], 799); resealBatch(b) }), "no record has the max time"},
	"no delta 0":         {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[64] = 1; resealBatch(b) }), "no record has the min time"},
	"max too high":       {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint64(b[28:], 1001); resealBatch(b) }), "no record has the max time"},
	"max too low":        {nil, damagedCopy(func(b []byte) { binary.BigEndian.PutUint64(b[28:], 999); resealBatch(b) }), "past max time"},
	"record too long":    {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[40] = 0x7f; resealBatch(b) }), "record length 127 does not fit in the 28 bytes left"},
	"record over fields": {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[40] = 0x17; resealBatch(b) }), "fields end 1 bytes before"},
	"record under fields": {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[40] = 0x15; resealBatch(b) }),
		"header value length 2 does not fit in the 1 bytes left"},
	"fields short":       {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[43] = 0x01; resealBatch(b) }), "record 0 at section offset 0: value length 49"},
	"non-minimal varint": {[]Codec{CodecNone}, forgeNone("9600" + goldenNone[2*BatchHeaderSize+2:]), "non-minimal uvarint"},
	"varint overflow":    {[]Codec{CodecNone}, forgeNone("ffffffffffffffffff02" + "00000000"), "overflows 64 bits"},
	"truncated varint":   {[]Codec{CodecNone}, forgeNone(goldenNone[2*BatchHeaderSize:2*BatchHeaderSize+46] + "8080808080"), "record 1 at section offset 23: record length: truncated"},
	"header count huge":  {[]Codec{CodecNone}, damagedCopy(func(b []byte) { b[54] = 0x7f; resealBatch(b) }), "header count 127 does not fit in the 8 bytes left"},
	"zstd data resealed": {[]Codec{CodecZstd}, damagedCopy(func(b []byte) { b[len(b)-10] ^= 0x40; resealBatch(b) }), "zstd:"},
}

// verifyCatches are the damages VerifyBatch must see without decompressing: retention and replication use it alone.
var verifyCatches = []string{"flip header bit", "flip crc bit", "flip payload bit", "truncate header", "truncate payload",
	"append a byte", "empty", "zeroed", "version 2", "codec 2", "none read as zstd", "zstd read as none", "reserved set",
	"records len huge", "count 0", "count huge", "offset overflow", "min after max"}

// forgeNone returns a CodecNone batch of goldenRecords' header with the records section replaced by hex section.
func forgeNone(section string) func([]byte) []byte {
	return func(b []byte) []byte {
		s, err := hex.DecodeString(section)
		if err != nil {
			panic(err)
		}
		out := append(bytes.Clone(b[:BatchHeaderSize]), s...)
		binary.BigEndian.PutUint32(out[36:], uint32(len(s)))
		return resealBatch(out)
	}
}

func TestBatchDamage(t *testing.T) {
	for name, c := range damageCases {
		for _, codec := range batchCodecs {
			if c.only != nil && c.only[0] != codec {
				continue
			}
			t.Run(name+"/"+codec.String(), func(t *testing.T) {
				b := c.f(mustAppendBatch(t, 100, codec, goldenRecords))
				_, recs, err := DecodeBatch(b)
				if !errors.Is(err, ErrCorruptBatch) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("DecodeBatch error = %v, want ErrCorruptBatch with %q", err, c.want)
				}
				if recs != nil {
					t.Fatal("DecodeBatch returned records with an error")
				}
				_, verr := VerifyBatch(b)
				if slices.Contains(verifyCatches, name) && (verr == nil || verr.Error() != err.Error()) {
					t.Fatalf("VerifyBatch error = %v, want %v", verr, err)
				}
			})
		}
	}
}

// TestBatchDecodeErrorKeepsHeader: when only the records section is bad, the verified header says what was lost.
func TestBatchDecodeErrorKeepsHeader(t *testing.T) {
	b := damageCases["fields short"].f(mustAppendBatch(t, 100, CodecNone, goldenRecords))
	h, _, err := DecodeBatch(b)
	if err == nil || h.BaseOffset != 100 || h.NextOffset() != 102 {
		t.Fatalf("DecodeBatch = %+v, %v; want the header of offsets [100, 102) and an error", h, err)
	}
}

// zstdBatch seals payload as a one-record zstd batch that declares a records section of recordsLen bytes.
func zstdBatch(payload []byte, recordsLen uint32) []byte {
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(payload))
	putHeader(b, BatchHeader{Version: BatchVersion, Codec: CodecZstd, Count: 1, RecordsLen: recordsLen})
	return resealBatch(append(b, payload...))
}

// TestBatchZstdBomb: a small, well-sealed payload that inflates far beyond its declared RecordsLen fails without
// allocating more than that length.
func TestBatchZstdBomb(t *testing.T) {
	zeros := make([]byte, MaxBatchRecordsBytes)
	var stream bytes.Buffer // a streamed frame does not declare its content size, so only the output cap stops it
	w, err := zstd.NewWriter(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(zeros); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	sized := zstdEncoder.EncodeAll(zeros, nil)
	for name, b := range map[string][]byte{
		"declared size, small RecordsLen": zstdBatch(sized, 100),
		"declared size, 1 MiB RecordsLen": zstdBatch(sized, 1<<20),
		"streamed, small RecordsLen":      zstdBatch(stream.Bytes(), 100),
		"streamed, 1 MiB RecordsLen":      zstdBatch(stream.Bytes(), 1<<20),
		"twice the limit in two frames":   zstdBatch(append(bytes.Clone(sized), sized...), MaxBatchRecordsBytes),
	} {
		t.Run(name, func(t *testing.T) {
			if len(b) > 64<<10 {
				t.Fatalf("the bomb is %d bytes; it should be small", len(b))
			}
			h, _ := VerifyBatch(b)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := DecodeBatch(b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("DecodeBatch error = %v, want ErrCorruptBatch", err)
			}
			// The slack covers the decoder's own first-use state (about
			// 2.6 MiB on 32-bit ARM), far below the 64 MiB the bomb holds.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(h.RecordsLen)+4<<20 {
				t.Fatalf("decoding the bomb allocated %d bytes for a %d-byte records section", alloc, h.RecordsLen)
			}
		})
	}
}

// TestBatchAllocs: neither codec allocates per record. Encoding CodecNone into a buffer with room allocates nothing;
// zstd may allocate its pooled scratch (the race detector empties sync.Pools at random); decoding allocates the
// section, the records, the headers and the distinct header keys.
func TestBatchAllocs(t *testing.T) {
	recs := telemetryRecords(1000)
	// The bounds are far below one per record, with room for a GC emptying
	// the zstd coder pools mid-run (seen once on a loaded CI machine).
	for codec, maxEnc := range map[Codec]float64{CodecNone: 0, CodecZstd: 8} {
		buf := make([]byte, 0, 1<<20)
		for range 16 { // each of the pooled encoders allocates its state on first use
			_, _ = AppendBatch(buf[:0], 0, codec, recs)
		}
		enc := testing.AllocsPerRun(20, func() { _, _ = AppendBatch(buf[:0], 0, codec, recs) })
		b := mustAppendBatch(t, 0, codec, recs)
		dec := testing.AllocsPerRun(20, func() { _, _, _ = DecodeBatch(b) })
		if enc > maxEnc || dec > 20 {
			t.Errorf("%v: %v allocations to encode and %v to decode 1000 records; want at most %v and 20", codec, enc, dec, maxEnc)
		}
	}
}

// telemetryRecords returns n ~150-byte JSON meter readings, with varying devices, metrics and values, a millisecond apart.
func telemetryRecords(n int) []Record {
	rng := rand.New(rand.NewPCG(42, 42))
	metrics := []string{"active_power", "voltage", "current", "frequency", "energy_total"}
	units := []string{"W", "V", "A", "Hz", "Wh"}
	recs := make([]Record, n)
	for i := range recs {
		dev, m := fmt.Sprintf("meter-%04d", rng.IntN(64)), rng.IntN(len(metrics))
		ts := batchT0.Add(time.Duration(i) * time.Millisecond)
		recs[i] = Record{
			Key: []byte(dev),
			Value: fmt.Appendf(nil, `{"device":"%s","metric":"%s","value":%.1f,"unit":"%s","ts":"%s"}`,
				dev, metrics[m], rng.Float64()*5000, units[m], ts.Format("2006-01-02T15:04:05.000Z07:00")),
			Time:    ts,
			Headers: []Header{{Key: "site", Value: []byte("plant-7")}, {Key: "topic", Value: []byte("meters/" + dev)}},
		}
	}
	return recs
}

func BenchmarkAppendBatch(b *testing.B) {
	recs := telemetryRecords(1000)
	for _, codec := range batchCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			one := mustAppendBatch(b, 0, codec, recs)
			h, _ := VerifyBatch(one)
			buf := make([]byte, 0, 2*len(one))
			b.SetBytes(int64(h.RecordsLen))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendBatch(buf[:0], 0, codec, recs)
			}
			reportBatch(b, h)
		})
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	recs := telemetryRecords(1000)
	for _, codec := range batchCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			one := mustAppendBatch(b, 0, codec, recs)
			h, _ := VerifyBatch(one)
			b.SetBytes(int64(h.RecordsLen))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeBatch(one); err != nil {
					b.Fatal(err)
				}
			}
			reportBatch(b, h)
		})
	}
}

// reportBatch reports records/s and the compression ratio: records section bytes per stored batch byte.
func reportBatch(b *testing.B, h BatchHeader) {
	b.ReportMetric(float64(b.N)*float64(h.Count)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(h.RecordsLen)/float64(h.Size), "ratio")
}

func TestBatchUvarintLen(t *testing.T) {
	for n := range 64 {
		for _, x := range []uint64{1<<n - 1, 1 << n, 1<<n + 1} {
			if got, want := uvarintLen(x), len(binary.AppendUvarint(nil, x)); got != want {
				t.Fatalf("uvarintLen(%d) = %d, want %d", x, got, want)
			}
		}
	}
}
