package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzDecodeBatch: any input either fails with ErrCorruptBatch, or decodes to records that encode back to the same
// header and records — and, for CodecNone, to the very same bytes, so each batch has exactly one encoding.
func FuzzDecodeBatch(f *testing.F) {
	for _, recs := range [][]Record{goldenRecords, goldenZstdRecords(), telemetryRecords(3), roundTripCases()["time extremes"],
		roundTripCases()["empty fields"]} {
		for _, codec := range batchCodecs {
			f.Add(mustAppendBatch(f, 100, codec, recs))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeInvariant(t, b)
		if len(b) >= BatchHeaderSize { // the fuzzer cannot forge a CRC: resealBatch to reach the parser behind it
			checkDecodeInvariant(t, resealBatch(bytes.Clone(b)))
		}
	})
}

func checkDecodeInvariant(t *testing.T, b []byte) {
	vh, verr := VerifyBatch(b)
	h, recs, err := DecodeBatch(b)
	if err != nil {
		if !errors.Is(err, ErrCorruptBatch) || (verr != nil && !errors.Is(verr, ErrCorruptBatch)) {
			t.Fatalf("errors %v and %v do not both wrap ErrCorruptBatch", err, verr)
		}
		return
	}
	if verr != nil || vh != h {
		t.Fatalf("DecodeBatch accepted what VerifyBatch did not: %+v, %v", vh, verr)
	}
	again, err := AppendBatch(nil, h.BaseOffset, h.Codec, recs)
	if err != nil {
		t.Fatalf("re-encoding decoded records: %v", err)
	}
	h2, recs2, err := DecodeBatch(again)
	if err != nil {
		t.Fatalf("decoding the re-encoding: %v", err)
	}
	if h.Codec == CodecZstd {
		h2.Size = h.Size
	}
	if h2 != h {
		t.Fatalf("re-encoded header %+v, want %+v", h2, h)
	}
	if d := recordsDiff(recs2, recs); d != "" {
		t.Fatalf("re-encoded records: %s", d)
	}
	if h.Codec == CodecNone && !bytes.Equal(again, b) {
		t.Fatalf("CodecNone re-encoding differs:\n got %x\nwant %x", again, b)
	}
}

// FuzzBatchRoundTrip builds records from fuzz bytes and checks that AppendBatch then DecodeBatch gives them back.
func FuzzBatchRoundTrip(f *testing.F) {
	f.Add([]byte("\x02\x01k\x03val\x01\x04site\x02s7"), uint64(0), false, int64(0))
	f.Add([]byte("\x05\x00\x00\x00\xff\xff\xff\xff"), uint64(math.MaxUint64-4), true, int64(math.MinInt64))
	f.Add(bytes.Repeat([]byte("meter-0042 active_power 1234.5 W"), 8), uint64(1)<<40, true, int64(1_800_000_000e9))
	f.Fuzz(func(t *testing.T, data []byte, base uint64, zstd bool, t0 int64) {
		recs := fuzzRecords(data, t0)
		codec := CodecNone
		if zstd {
			codec = CodecZstd
		}
		b, err := AppendBatch(nil, base, codec, recs)
		if base > math.MaxUint64-uint64(len(recs)) {
			if err == nil {
				t.Fatalf("AppendBatch accepted base %d + %d records", base, len(recs))
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendBatch: %v", err)
		}
		h, got, err := DecodeBatch(b)
		if err != nil {
			t.Fatalf("DecodeBatch: %v", err)
		}
		if d := recordsDiff(got, recs); d != "" {
			t.Fatal(d)
		}
		if h.BaseOffset != base || h.Codec != codec || int(h.Count) != len(recs) || h.Size != len(b) {
			t.Fatalf("header %+v for base %d, codec %v, %d records", h, base, codec, len(recs))
		}
	})
}

// fuzzRecords cuts data into records: a count byte, then per record a time offset (from batchT0, so extremes and the
// zero time occur), a key, a value and up to three headers, each field as long as a length byte says (or what is left).
func fuzzRecords(data []byte, t0 int64) []Record {
	next := func(n int) []byte {
		n = min(n, len(data))
		b := data[:n:n]
		data = data[n:]
		return b
	}
	byteOr0 := func() int {
		if b := next(1); len(b) == 1 {
			return int(b[0])
		}
		return 0
	}
	recs := make([]Record, 1+byteOr0()%8)
	for i := range recs {
		var d [8]byte
		copy(d[:], next(byteOr0()%9))
		ns := t0 + int64(binary.LittleEndian.Uint64(d[:])) // wraps: any int64 can occur
		if ns != math.MinInt64 {
			recs[i].Time = time.Unix(0, ns)
		} // else the zero time, which the format stores as math.MinInt64
		recs[i].Key, recs[i].Value = next(byteOr0()), next(byteOr0())
		for range byteOr0() % 4 {
			recs[i].Headers = append(recs[i].Headers, Header{Key: string(next(byteOr0())), Value: next(byteOr0())})
		}
	}
	return recs
}
