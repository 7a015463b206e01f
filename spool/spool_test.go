package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func sameRecord(a, b Record) bool {
	if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || !a.Time.Equal(b.Time) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func TestAppendPlacesByKeyAndReadsBack(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("telemetry", 4))

	var recs []Record
	for i := range 1000 {
		recs = append(recs, rec(fmt.Sprintf("meter-%03d", i%37), i))
	}
	pos, err := s.Append(ctx(t), "telemetry", recs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != len(recs) {
		t.Fatalf("got %d positions for %d records", len(pos), len(recs))
	}
	want := map[int][]Record{}
	for i, r := range recs {
		p := Partition(r.Key, 4)
		if pos[i].Partition != p || pos[i].Offset != uint64(len(want[p])) {
			t.Fatalf("record %d at %+v, want partition %d offset %d", i, pos[i], p, len(want[p]))
		}
		want[p] = append(want[p], r)
	}
	for p := range 4 {
		got, gaps := readAll(t, s, "telemetry", p, 0)
		if len(gaps) != 0 || len(got) != len(want[p]) {
			t.Fatalf("partition %d: %d records, %d gaps; want %d records", p, len(got), len(gaps), len(want[p]))
		}
		for i := range got {
			if !sameRecord(got[i], want[p][i]) {
				t.Fatalf("partition %d offset %d: got %+v want %+v", p, i, got[i], want[p][i])
			}
		}
	}
}

// Many producers at once: every record gets a distinct offset, offsets
// have no holes, and commits are shared (fewer fsyncs than appends).
func TestConcurrentAppendsShareCommits(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, _ := openTest(t, Options{Registerer: reg})
	ensure(t, s, testStream("t", 3))

	const producers, each = 32, 50
	var mu sync.Mutex
	seen := map[Position]string{}
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("dev-%d", g)
				pos, err := s.Append(ctx(t), "t", rec(key, i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, dup := seen[pos[0]]; dup {
					t.Errorf("position %+v given to %s and %s/%d", pos[0], other, key, i)
				}
				seen[pos[0]] = fmt.Sprintf("%s/%d", key, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := 0
	for p := range 3 {
		_, next, _ := s.Offsets("t", p)
		for o := range next {
			if _, ok := seen[Position{p, o}]; !ok {
				t.Fatalf("partition %d offset %d was never returned: a hole", p, o)
			}
		}
		total += int(next)
	}
	if total != producers*each {
		t.Fatalf("%d offsets for %d records", total, producers*each)
	}
	commits := testutil.CollectAndCount(reg, "tributary_spool_records_per_commit")
	if commits != 1 {
		t.Fatalf("histogram count = %d series", commits)
	}
	n := histogramCount(t, reg, "tributary_spool_records_per_commit")
	if n >= producers*each {
		t.Fatalf("%d commits for %d blocking appends from %d producers: no group commit", n, producers*each, producers)
	}
	t.Logf("%d records in %d commits", producers*each, n)
}

func histogramCount(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestAppendAsyncCompletesEachOnceInOrder(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("t", 1))
	const n = 3000
	results := make(chan [2]uint64, n)
	for i := range n {
		err := s.AppendAsync(ctx(t), "t", []Record{rec("k", i)}, func(r Result) {
			if r.Err != nil {
				t.Error(r.Err)
			}
			results <- [2]uint64{uint64(i), r.Positions[0].Offset}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint64]uint64{}
	for range n {
		r := <-results
		if _, dup := got[r[0]]; dup {
			t.Fatalf("callback for %d ran twice", r[0])
		}
		got[r[0]] = r[1]
	}
	for i := range uint64(n) {
		if got[i] != i {
			t.Fatalf("append %d got offset %d: queued order not kept", i, got[i])
		}
	}
}

func TestReopenKeepsDataOffsetsAndEpoch(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ensure(t, s, testStream("t", 2))
	if _, err := s.Append(ctx(t), "t", rec("a", 1), rec("b", 2), rec("a", 3)); err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	if len(epoch) != 32 {
		t.Fatalf("epoch %q, want 32 hex digits", epoch)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Epoch() != epoch {
		t.Fatalf("epoch changed across reopen: %s → %s", epoch, s2.Epoch())
	}
	pa := Partition([]byte("a"), 2)
	want := uint64(2) // a, a, and b if it hashes to the same partition
	if Partition([]byte("b"), 2) == pa {
		want = 3
	}
	if _, next, _ := s2.Offsets("t", pa); next != want {
		t.Fatalf("partition of a: next %d after reopen, want %d", next, want)
	}
	pos, err := s2.Append(ctx(t), "t", rec("a", 4))
	if err != nil || pos[0].Offset != want {
		t.Fatalf("append after reopen = %v, %v; want offset %d", pos, err, want)
	}
	got, _ := readAll(t, s2, "t", pa, 0)
	if uint64(len(got)) != want+1 || !sameRecord(got[want], rec("a", 4)) {
		t.Fatalf("after reopen read %d records", len(got))
	}

	other, _ := openTest(t, Options{})
	if other.Epoch() == epoch {
		t.Fatal("two spools share an epoch")
	}
}

func TestReadFindsTheBatchHoldingAnOffset(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("t", 1))
	for b := range 10 { // ten batches of ten
		var recs []Record
		for i := range 10 {
			recs = append(recs, rec("k", b*10+i))
		}
		if _, err := s.Append(ctx(t), "t", recs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []uint64{0, 9, 10, 25, 99} {
		entries, err := s.Read("t", 0, from, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Offset() > from || entries[0].NextOffset() <= from {
			t.Fatalf("Read from %d: first entry [%d,%d)", from, entries[0].Offset(), entries[0].NextOffset())
		}
		recs, _ := entries[0].Records()
		if want := rec("k", int(from)); !sameRecord(recs[from-entries[0].Offset()], want) {
			t.Fatalf("record at %d is not the one appended there", from)
		}
	}
	if entries, err := s.Read("t", 0, 100, 1<<20); err != nil || len(entries) != 0 {
		t.Fatalf("Read at the end = %d entries, %v; want none", len(entries), err)
	}
	_, err := s.Read("t", 0, 101, 1<<20)
	var oor *OutOfRangeError
	if !errors.As(err, &oor) || oor.Next != 100 {
		t.Fatalf("Read past the end = %v, want an OutOfRangeError with Next 100", err)
	}
}

func TestIteratorWaitsForCommits(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("t", 1))
	it := s.Iterate("t", 0, 0)

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := it.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty partition = %v, want to wait until the deadline", err)
	}

	got := make(chan Entry, 1)
	go func() {
		e, err := it.Next(ctx(t))
		if err != nil {
			t.Error(err)
		}
		got <- e
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := s.Append(ctx(t), "t", rec("k", 7)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		recs, _ := e.Records()
		if len(recs) != 1 || !sameRecord(recs[0], rec("k", 7)) || it.Position() != 1 {
			t.Fatalf("iterator got %d records, position %d", len(recs), it.Position())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("iterator did not wake up after a commit")
	}
}

func TestTxnCommitsRecordsCursorsAndStateTogether(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("in", 1), testStream("out", 1))

	tx := new(Txn).
		AppendTo("out", 0, rec("window", 1)).
		SetCursor("agg", "in", 0, 42, true).
		PutState("agg/window", []byte("sum=10")).
		ExpectState("agg/window", nil)
	if _, err := s.Commit(ctx(t), tx); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.Cursor("agg", "in", 0)
	if err != nil || !ok || c.Offset != 42 || !c.Protect {
		t.Fatalf("cursor = %+v %v %v", c, ok, err)
	}
	if v, _ := s.State("agg/window"); string(v) != "sum=10" {
		t.Fatalf("state = %q", v)
	}

	// A failed precondition stores nothing at all.
	stale := new(Txn).
		AppendTo("out", 0, rec("window", 2)).
		SetCursor("agg", "in", 0, 50, true).
		PutState("agg/window", []byte("sum=99")).
		ExpectState("agg/window", nil)
	if _, err := s.Commit(ctx(t), stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale commit = %v, want ErrConflict", err)
	}
	if _, next, _ := s.Offsets("out", 0); next != 1 {
		t.Fatalf("out has next %d after a refused txn, want 1", next)
	}
	if c, _, _ := s.Cursor("agg", "in", 0); c.Offset != 42 {
		t.Fatalf("cursor moved to %d by a refused txn", c.Offset)
	}
	if v, _ := s.State("agg/window"); string(v) != "sum=10" {
		t.Fatalf("state = %q after a refused txn", v)
	}

	// A good one in the same group as a bad one still commits.
	var wg sync.WaitGroup
	var goodErr, badErr error
	wg.Go(func() {
		_, goodErr = s.Commit(ctx(t), new(Txn).PutState("agg/window", []byte("sum=11")).ExpectState("agg/window", []byte("sum=10")))
	})
	wg.Go(func() {
		_, badErr = s.Commit(ctx(t), new(Txn).PutState("x", []byte("y")).ExpectState("missing", []byte("v")))
	})
	wg.Wait()
	if goodErr != nil || !errors.Is(badErr, ErrConflict) {
		t.Fatalf("good = %v, bad = %v", goodErr, badErr)
	}
	cs, err := s.Cursors()
	if err != nil || len(cs) != 1 || cs[0].Name != "agg" {
		t.Fatalf("Cursors = %+v, %v", cs, err)
	}
}

func TestRefusals(t *testing.T) {
	s, _ := openTest(t, Options{MaxBatchBytes: 64 << 10})
	ensure(t, s, testStream("t", 2))
	big := Record{Key: []byte("k"), Value: make([]byte, 70<<10)}
	cases := map[string]struct {
		txn  *Txn
		want error
	}{
		"unknown stream":           {new(Txn).Append("nope", rec("k", 1)), ErrUnknownStream},
		"partition too high":       {new(Txn).AppendTo("t", 2, rec("k", 1)), ErrInvalid},
		"negative partition":       {new(Txn).AppendTo("t", -1, rec("k", 1)), ErrInvalid},
		"empty txn":                {new(Txn), ErrInvalid},
		"larger than a commit":     {new(Txn).Append("t", big), ErrTooLarge},
		"cursor on unknown stream": {new(Txn).SetCursor("c", "nope", 0, 1, true), ErrUnknownStream},
		"empty state key":          {new(Txn).PutState("", []byte("v")), ErrInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Commit(ctx(t), tc.txn); !errors.Is(err, tc.want) {
				t.Fatalf("Commit = %v, want %v", err, tc.want)
			}
		})
	}
	if err := s.EnsureStream(testStream("t", 3)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("changing the partition count = %v, want ErrInvalid", err)
	}
	for _, bad := range []StreamConfig{{Name: "", Partitions: 1, MaxBytes: 1}, {Name: "a b", Partitions: 1, MaxBytes: 1},
		{Name: "x", Partitions: 0, MaxBytes: 1}, {Name: "x", Partitions: 1}, {Name: "x", Partitions: 1, MaxBytes: 1, Full: "later"}} {
		if err := s.EnsureStream(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("EnsureStream(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := Open(t.TempDir(), Options{Linger: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open with a negative linger = %v", err)
	}
}

func TestEnsureStreamUpdatesSettings(t *testing.T) {
	s, dir := openTest(t, Options{})
	cfg := testStream("t", 2)
	ensure(t, s, cfg)
	cfg.Priority, cfg.MaxAge, cfg.Full = 7, time.Hour, DropOldest
	ensure(t, s, cfg)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := s2.Streams()
	if len(got) != 1 || got[0] != cfg {
		t.Fatalf("after reopen streams = %+v, want %+v", got, cfg)
	}
}

func TestCloseDrainsQueuedCommitsThenRefuses(t *testing.T) {
	s, dir := openTest(t, Options{Linger: 200 * time.Millisecond})
	ensure(t, s, testStream("t", 1))
	var done sync.WaitGroup
	var failed int
	var mu sync.Mutex
	for i := range 100 {
		done.Add(1)
		err := s.AppendAsync(ctx(t), "t", []Record{rec("k", i)}, func(r Result) {
			if r.Err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
			done.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done.Wait()
	if failed != 0 {
		t.Fatalf("%d queued appends failed at Close; want them written", failed)
	}
	if _, err := s.Append(ctx(t), "t", rec("k", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if _, err := s.Read("t", 0, 0, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	st, err := StatDir(dir)
	if err != nil || st.Streams[0].Partitions[0].Next != 100 {
		t.Fatalf("StatDir after Close = %+v, %v", st, err)
	}
}

func TestSecondOpenSaysInUse(t *testing.T) {
	_, dir := openTest(t, Options{})
	_, err := Open(dir, Options{OpenTimeout: 50 * time.Millisecond})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("in use by another process")) {
		t.Fatalf("second Open = %v, want an in-use error", err)
	}
}

func TestMapBudget(t *testing.T) {
	s, _ := openTest(t, Options{})
	huge := StreamConfig{Name: "huge", Partitions: 1, MaxBytes: 2 << 30}
	err := s.EnsureStream(huge)
	if mapBudget < 2<<30 { // a 32-bit platform
		if !errors.Is(err, ErrInvalid) || !bytes.Contains([]byte(err.Error()), []byte("32-bit")) {
			t.Fatalf("2 GiB stream on a 32-bit platform = %v, want a refusal naming the limit", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("2 GiB stream on a 64-bit platform = %v", err)
	}
	old := mapBudget
	t.Cleanup(func() { mapBudget = old })
	mapBudget = 3 << 30
	if err := s.EnsureStream(StreamConfig{Name: "more", Partitions: 1, MaxBytes: 2 << 30}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("streams past the map budget = %v, want ErrInvalid", err)
	}
}

// A lone producer is not made to wait for the linger: nobody else is
// coming to share its fsync.
func TestLoneProducerDoesNotWaitForTheLinger(t *testing.T) {
	s, _ := openTest(t, Options{Linger: time.Second})
	ensure(t, s, testStream("t", 1))
	if _, err := s.Append(ctx(t), "t", rec("k", 0)); err != nil { // the first group may linger
		t.Fatal(err)
	}
	began := time.Now()
	for i := range 3 {
		if _, err := s.Append(ctx(t), "t", rec("k", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(began); took >= time.Second {
		t.Fatalf("three appends by one producer took %v with a 1s linger: each waited for it", took)
	}
}
