package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Regression tests for bugs a review found; each names what went wrong.

// EnsureStream once held the stream lock while waiting for bbolt's writer
// lock, which the committer holds while it takes the stream lock.
func TestEnsureStreamWhileAppendingDoesNotDeadlock(t *testing.T) {
	s, _ := openTest(t, Options{})
	ensure(t, s, testStream("a", 4))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.Append(context.Background(), "a", rec(fmt.Sprint(g), i))
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			cfg := testStream("a", 4)
			cfg.MaxBytes += int64(i + 1) // a changed setting: EnsureStream writes
			if err := s.EnsureStream(cfg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("EnsureStream and the committer are stuck:\n%s", buf[:runtime.Stack(buf, true)])
	}
}

// A record time the batch format cannot hold once failed every Txn of its
// group at commit; it is refused when queued now, alone.
func TestBadRecordTimeIsRefusedAloneWhenQueued(t *testing.T) {
	s, _ := openTest(t, Options{Linger: 50 * time.Millisecond})
	ensure(t, s, testStream("a", 1), testStream("b", 1))
	res := make(chan Result, 1)
	if err := s.AppendAsync(ctx(t), "a", []Record{{Key: []byte("k"), Value: []byte("good")}}, func(r Result) { res <- r }); err != nil {
		t.Fatal(err)
	}
	bad := Record{Key: []byte("k"), Value: []byte("bad"), Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.AppendAsync(ctx(t), "b", []Record{bad}, func(Result) { t.Error("callback of a refused append") }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("append with a year-3000 time = %v, want ErrInvalid", err)
	}
	if r := <-res; r.Err != nil {
		t.Fatalf("the good append failed: %v", r.Err)
	}
}

// Budget retention once deleted a consumed batch after an old gap without
// trimming the gap, leaving a hole between the gap and the next batch.
func TestBudgetRetentionAfterAGapLeavesNoHole(t *testing.T) {
	s, _ := openTest(t, Options{RetentionInterval: time.Hour})
	ensure(t, s, smallStream("d", DropOldest))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if n, err := fill(t, s, "d", 1000); err != nil {
		t.Fatal(n, err)
	}
	_, next, _ := s.Offsets("d", 0)
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, next, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := fill(t, s, "d", 50); err != nil {
		t.Fatal(err)
	}
	start, next, _ := s.Offsets("d", 0)
	for from := start; from < next; {
		es, err := s.Read("d", 0, from, 1<<20)
		if err != nil {
			t.Fatalf("Read from %d (start %d, next %d): %v", from, start, next, err)
		}
		from = es[len(es)-1].NextOffset()
	}
}

// drop_oldest once dropped every unread batch for a commit that could not
// fit anyway, then refused it. Now it refuses such a commit (to be retried)
// without dropping anything for it.
func TestDropOldestDropsOnlyWhatACommitNeeds(t *testing.T) {
	s, _ := openTest(t, Options{Linger: 200 * time.Millisecond, RetentionInterval: time.Hour})
	ensure(t, s, smallStream("d", DropOldest)) // 16 KiB
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := fill(t, s, "d", 20); err != nil { // a few KiB, unread
		t.Fatal(err)
	}
	big := Record{Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 7000)}
	res := make(chan Result, 3)
	for range 3 {
		if err := s.AppendAsync(ctx(t), "d", []Record{big}, func(r Result) { res <- r }); err != nil {
			t.Fatal(err)
		}
	}
	var full int
	for range 3 {
		if err := (<-res).Err; errors.Is(err, ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	recs, gaps := readAll(t, s, "d", 0, 0)
	if full > 1 || len(recs) == 0 {
		t.Fatalf("%d of 3 refused, %d records left, gaps %+v: too much dropped or refused", full, len(recs), gaps)
	}
}

// dropped_records_total once counted a merged gap's records again.
func TestDroppedCounterMatchesGaps(t *testing.T) {
	s, _ := openTest(t, Options{RetentionInterval: time.Hour})
	ensure(t, s, smallStream("d", DropOldest))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := fill(t, s, "d", 1000); err != nil {
		t.Fatal(err)
	}
	_, gaps := readAll(t, s, "d", 0, 0)
	var lost uint64
	for _, g := range gaps {
		lost += g.Count()
	}
	if got := testutil.ToFloat64(s.m.dropped.WithLabelValues("d")); got != float64(lost) || lost == 0 {
		t.Fatalf("dropped_records_total = %v, the gaps cover %d records", got, lost)
	}
	if got := testutil.ToFloat64(s.m.gaps.WithLabelValues("d")); got != float64(len(gaps)) {
		t.Fatalf("gaps_total = %v, %d gaps stored", got, len(gaps))
	}
}

// MaxPendingBytes once counted record bytes only, so Txns of large state
// values were never held back.
func TestQueueBoundCountsStateBytes(t *testing.T) {
	s, _ := openTest(t, Options{MaxBatchBytes: 64 << 10, MaxPendingBytes: 64 << 10})
	ensure(t, s, testStream("a", 1))
	block, started := make(chan struct{}), make(chan struct{})
	// Park the committer inside a completion callback.
	if err := s.CommitAsync(ctx(t), new(Txn).PutState("x", []byte("1")), func(Result) { close(started); <-block }); err != nil {
		t.Fatal(err)
	}
	<-started
	val := bytes.Repeat([]byte("v"), 1<<20)
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	n := 0
	for i := range 64 {
		if err := s.CommitAsync(c, new(Txn).PutState(fmt.Sprint("k", i), val), func(Result) {}); err != nil {
			break
		}
		n++
	}
	close(block)
	if n > 1 {
		t.Fatalf("%d Txns of 1 MiB state queued behind a 64 KiB MaxPendingBytes", n)
	}
}

// openError once called the operating system's refusals corruption, and
// advised moving a good spool aside.
func TestOpenErrorKeepsResourceErrorsApartFromDamage(t *testing.T) {
	for _, e := range []error{syscall.ENOMEM, syscall.ENOLCK, syscall.EIO} {
		if err := openError("x/spool.db", e); errors.Is(err, ErrCorrupt) {
			t.Errorf("openError(%v) = %v, not damage", e, err)
		}
	}
}

// Failed Txns in a group take no offsets.
func TestFailedTxnsInAGroupTakeNoOffsets(t *testing.T) {
	s, _ := openTest(t, Options{Linger: 100 * time.Millisecond})
	ensure(t, s, testStream("a", 1), StreamConfig{Name: "tiny", Partitions: 1, MaxBytes: 10})
	res := make(chan Result, 4)
	cb := func(r Result) { res <- r }
	for _, tx := range []*Txn{
		new(Txn).AppendTo("a", 0, rec("k", 0)),
		new(Txn).AppendTo("a", 0, rec("k", 1)).ExpectState("x", []byte("y")),    // conflict
		new(Txn).AppendTo("a", 0, rec("k", 2)).AppendTo("tiny", 0, rec("k", 2)), // too large
		new(Txn).AppendTo("a", 0, rec("k", 3), rec("k", 4)),
	} {
		if err := s.CommitAsync(ctx(t), tx, cb); err != nil {
			t.Fatal(err)
		}
	}
	var offs []uint64
	for range 4 {
		if r := <-res; r.Err == nil {
			for _, p := range r.Positions {
				offs = append(offs, p.Offset)
			}
		}
	}
	if _, next, _ := s.Offsets("a", 0); next != 3 || fmt.Sprint(offs) != "[0 1 2]" {
		t.Fatalf("next %d, offsets %v; want 3 and [0 1 2]", next, offs)
	}
}

// A truncated file once made bbolt's check fault and kill the process.
func TestTruncatedFileIsRefusedNotFatal(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ensure(t, s, StreamConfig{Name: "t", Partitions: 2, MaxBytes: 256 << 20, Uncompressed: true})
	for i := range 50 {
		if _, err := s.Append(ctx(t), "t", Record{Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{byte(i)}, 8000)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()*8/10/4096*4096); err != nil {
		t.Fatal(err)
	}
	// Open first: a writable open once faulted inside bbolt and left the
	// file locked, so that everything after it said "in use".
	for range 2 {
		if _, err := Open(dir, Options{OpenTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("Open of a truncated file = %v, want ErrCorrupt saying it is truncated", err)
		}
	}
	if _, err := CheckDir(dir); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("CheckDir of a truncated file = %v, want it to say so", err)
	}
}

// A Txn refused for one stream once still dropped unread data of another.
func TestRefusedTxnDropsNothing(t *testing.T) {
	s, _ := openTest(t, Options{RetentionInterval: time.Hour})
	ensure(t, s, smallStream("d", DropOldest), smallStream("b", Block))
	if _, err := s.Commit(ctx(t), new(Txn).SetCursor("fwd", "d", 0, 0, true).SetCursor("fwd", "b", 0, 0, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := fill(t, s, "d", 150); err != nil { // about full
		t.Fatal(err)
	}
	recsBefore, gapsBefore := readAll(t, s, "d", 0, 0)
	if _, err := fill(t, s, "b", 10_000); !errors.Is(err, ErrFull) {
		t.Fatalf("filling the block stream = %v", err)
	}
	var both []Record
	for i := range 40 {
		both = append(both, rec("k", i))
	}
	_, err := s.Commit(ctx(t), new(Txn).Append("d", both...).Append("b", both...))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("a txn into a full block stream = %v, want ErrFull", err)
	}
	recsAfter, gapsAfter := readAll(t, s, "d", 0, 0)
	if len(recsAfter) != len(recsBefore) || len(gapsAfter) != len(gapsBefore) {
		t.Fatalf("the refused txn changed the other stream: %d records and %d gaps before, %d and %d after",
			len(recsBefore), len(gapsBefore), len(recsAfter), len(gapsAfter))
	}
	// The same records into d alone need room, which drop_oldest makes.
	if _, err := s.Commit(ctx(t), new(Txn).Append("d", both...)); err != nil {
		t.Fatal(err)
	}
	if _, gaps := readAll(t, s, "d", 0, 0); len(gaps) == len(gapsBefore) && len(gaps) == 0 {
		t.Fatal("d had room without dropping: the test did not exercise the drop")
	}
}
