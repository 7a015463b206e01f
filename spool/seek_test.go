package spool

import (
	"errors"
	"testing"
	"time"
)

func at(sec int) time.Time { return time.Unix(1_800_000_000+int64(sec), 0).UTC() }

// Times out of order across batches: the first record in offset order at or
// after t, not a bisection's guess.
func TestOffsetForTime(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("s", 1))
	// Batches (one commit each) with times 10 11 12 | 5 6 | 20 21 | 15.
	for _, secs := range [][]int{{10, 11, 12}, {5, 6}, {20, 21}, {15}} {
		var recs []Record
		for _, sec := range secs {
			recs = append(recs, Record{Key: []byte("k"), Value: []byte("v"), Time: at(sec)})
		}
		if _, err := s.Append(ctx(t), "s", recs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		sec  int
		want uint64
	}{
		{0, 0}, {10, 0}, {11, 1}, {12, 2},
		{13, 5},  // 20, in the third batch, though 15 is later in time order
		{21, 6},  // inside a batch
		{16, 5},  // the third batch again
		{22, 8},  // none yet: the next offset
		{-99, 0}, // long before everything
	} {
		got, err := s.OffsetForTime("s", 0, at(c.sec))
		if err != nil || got != c.want {
			t.Errorf("OffsetForTime(+%ds) = %d, %v; want %d", c.sec, got, err, c.want)
		}
	}
	if _, err := s.OffsetForTime("nope", 0, at(0)); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("unknown stream: %v", err)
	}
	if _, err := s.OffsetForTime("s", 1, at(0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad partition: %v", err)
	}
}

// A gap whose dropped records reach t is where a reader starts: it must
// see that records of that time are lost.
func TestOffsetForTimeMeetsGaps(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, smallStream("d", DropOldest))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := fill(t, s, "d", 1000); err != nil { // rec i has time 1_800_000_000 s + i ns
		t.Fatal(err)
	}
	_, gaps := readAll(t, s, "d", 0, 0)
	if len(gaps) != 1 {
		t.Fatalf("%d gaps, want 1", len(gaps))
	}
	g := gaps[0]
	if off, err := s.OffsetForTime("d", 0, g.MinTime); err != nil || off != g.From {
		t.Errorf("at the gap's first time = %d, %v; want the gap's start %d", off, err, g.From)
	}
	after := time.Unix(1_800_000_000, int64(g.To)+3).UTC()
	if off, err := s.OffsetForTime("d", 0, after); err != nil || off != g.To+3 {
		t.Errorf("after the gap = %d, %v; want %d", off, err, g.To+3)
	}
}

func TestPartitionBytes(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("s", 2))
	if _, err := s.Append(ctx(t), "s", rec("a", 1)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		b, err := s.PartitionBytes("s", p)
		if err != nil || b != st.Streams[0].Partitions[p].Bytes {
			t.Errorf("partition %d: %d, %v; Stat says %d", p, b, err, st.Streams[0].Partitions[p].Bytes)
		}
	}
}
