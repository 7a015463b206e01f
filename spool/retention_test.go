package spool

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// fill appends to stream, ten records a commit, until a commit fails or
// limit records are stored, and returns how many it stored and the error.
func fill(t *testing.T, s *Spool, stream string, limit int) (int, error) {
	t.Helper()
	for i := 0; i < limit; i += 10 {
		var recs []Record
		for j := i; j < i+10; j++ {
			recs = append(recs, rec("k", j))
		}
		if _, err := s.Append(ctx(t), stream, recs...); err != nil {
			return i, err
		}
	}
	return limit, nil
}

func smallStream(name string, full FullPolicy) StreamConfig {
	return StreamConfig{Name: name, Partitions: 1, MaxBytes: 16 << 10, Full: full, Uncompressed: true}
}

func TestBlockRefusesWhenConsumersLagAndResumesWhenTheyRead(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, smallStream("b", Block))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "b", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	n, err := fill(t, s, "b", 10_000)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("after %d records: %v, want ErrFull", n, err)
	}
	_, next, _ := s.Offsets("b", 0)
	if next != uint64(n) {
		t.Fatalf("next = %d after %d stored and one refused: the refused record was stored", next, n)
	}
	// Nothing was dropped; everything is still readable.
	got, gaps := readAll(t, s, "b", 0, 0)
	if len(got) != n || len(gaps) != 0 {
		t.Fatalf("read %d records and %d gaps, want %d and none", len(got), len(gaps), n)
	}
	// The consumer reads everything: retention may now free it.
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "b", 0, next, true)); err != nil {
		t.Fatal(err)
	}
	var again []Record // the commit that was refused
	for j := n; j < n+10; j++ {
		again = append(again, rec("k", j))
	}
	if _, err := s.Append(ctx(t), "b", again...); err != nil {
		t.Fatalf("append after the consumer caught up = %v", err)
	}
	start, _, _ := s.Offsets("b", 0)
	if start == 0 {
		t.Fatal("retention freed nothing though the consumer had read it all")
	}
}

func TestNoProtectingCursorMeansRetentionFreesOldest(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, smallStream("b", Block))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("tail", "b", 0, 0, false)); err != nil {
		t.Fatal(err)
	}
	if n, err := fill(t, s, "b", 2000); err != nil {
		t.Fatalf("after %d: %v; an unprotected stream should never be full", n, err)
	}
	start, _, _ := s.Offsets("b", 0)
	if start == 0 {
		t.Fatal("nothing was freed")
	}
	if _, err := s.Read("b", 0, 0, 1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("reading freed offsets = %v, want ErrOutOfRange", err)
	}
	st, _ := s.Stat()
	if b := st.Streams[0].Bytes; b > 16<<10+4<<10 {
		t.Fatalf("stream holds %d bytes, budget 16KiB", b)
	}
}

func TestDropOldestLeavesGapsInOrder(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, smallStream("d", DropOldest))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if n, err := fill(t, s, "d", 1000); err != nil {
		t.Fatalf("after %d: %v; drop_oldest should never refuse", n, err)
	}
	recs, gaps := readAll(t, s, "d", 0, 0)
	if len(gaps) != 1 {
		t.Fatalf("%d gaps, want the dropped range as one gap", len(gaps))
	}
	g := gaps[0]
	if g.From != 0 || g.Reason != ReasonMaxBytes || g.Count() == 0 || g.MinTime.After(g.MaxTime) {
		t.Fatalf("gap = %+v", g)
	}
	if uint64(len(recs))+g.Count() != 1000 {
		t.Fatalf("%d records + %d dropped != 1000 appended", len(recs), g.Count())
	}
	if !sameRecord(recs[0], rec("k", int(g.To))) {
		t.Fatal("the first record after the gap is not the one at its end")
	}
	if got := s.m.dropped.WithLabelValues("d"); got == nil {
		t.Fatal("no dropped counter")
	}
	// Once the consumer passes the gap, retention forgets it.
	_, next, _ := s.Offsets("d", 0)
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, next, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx(t), &Txn{}); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	s.commitGroup([]*request{{job: func(c *commit) error { return c.ageRetention() }}})
	st, _ := s.Stat()
	if st.Streams[0].Partitions[0].Gaps != 0 {
		t.Fatalf("%d gaps left after the consumer passed them", st.Streams[0].Partitions[0].Gaps)
	}
}

func TestAgeRetentionKeepsWhatAProtectingCursorHasNotRead(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s, _ := openTest(t, Options{Now: clock, RetentionInterval: 5 * time.Millisecond})
	for _, name := range []string{"kept", "aged"} {
		ensure(t, s, StreamConfig{Name: name, Partitions: 1, MaxBytes: 1 << 20, MaxAge: time.Hour})
		if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", name, 0, 0, name == "kept")); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, err := s.Append(ctx(t), name, Record{Key: []byte("k"), Value: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	now.Add(int64(2 * time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for {
		start, _, _ := s.Offsets("aged", 0)
		if start == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("records older than max_age were not deleted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if start, _, _ := s.Offsets("kept", 0); start != 0 {
		t.Fatalf("age retention deleted up to %d though the protecting cursor is at 0", start)
	}
}
