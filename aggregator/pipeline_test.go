package aggregator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tributary-io/tributary/spool"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns
	}
	goleak.VerifyTestMain(m)
}

const (
	testIn    = "in"
	testOut   = "out"
	testParts = 4
)

// openTestSpool opens (or reopens) the spool in dir with the test streams.
func openTestSpool(t testing.TB, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testIn, testOut} {
		if err := sp.EnsureStream(spool.StreamConfig{Name: s, Partitions: testParts, MaxBytes: 256 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

// readAll returns every record of a partition in offset order.
func readAll(t testing.TB, sp *spool.Spool, stream string, p int) []spool.Record {
	t.Helper()
	from, next, err := sp.Offsets(stream, p)
	if err != nil {
		t.Fatal(err)
	}
	var out []spool.Record
	for from < next {
		entries, err := sp.Read(stream, p, from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			recs, err := e.Records()
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				if e.Offset()+uint64(i) >= from {
					out = append(out, r)
				}
			}
			from = e.NextOffset()
		}
	}
	return out
}

// byKey is a stream's records as "key@time value" lists per key: the order
// that is fixed (records of one key come from one input partition).
func byKey(recs []spool.Record) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		out[string(r.Key)] = append(out[string(r.Key)], show(NewRecord(r)))
	}
	return out
}

// derived reads the output stream grouped by key.
func derived(t testing.TB, sp *spool.Spool) map[string][]string {
	var all []spool.Record
	for p := range testParts {
		all = append(all, readAll(t, sp, testOut, p)...)
	}
	return byKey(all)
}

// offline computes, in process, what p derives from the whole input.
func offline(t testing.TB, sp *spool.Spool, p PipelineConfig) map[string][]string {
	t.Helper()
	pl, err := compile(p)
	if err != nil {
		t.Fatal(err)
	}
	var all []spool.Record
	for part := range testParts {
		ch, err := pl.newChain(func(r *Record) { all = append(all, r.Spool()) })
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range readAll(t, sp, testIn, part) {
			if err := ch.process(NewRecord(r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return byKey(all)
}

// sameOutput fails t unless got equals want, key by key.
func sameOutput(t testing.TB, got, want map[string][]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	bad := 0
	for k := range keys {
		if !slices.Equal(got[k], want[k]) {
			i := 0
			for i < len(got[k]) && i < len(want[k]) && got[k][i] == want[k][i] {
				i++
			}
			if bad++; bad <= 3 {
				t.Errorf("key %s: first difference at %d: got %q, want %q", k, i, got[k][i:min(i+3, len(got[k]))], want[k][i:min(i+3, len(want[k]))])
				t.Errorf("key %s: derived %d records, offline %d\n got %.300s\nwant %.300s", k, len(got[k]), len(want[k]), strings.Join(got[k], " "), strings.Join(want[k], " "))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d keys differ", bad, len(keys))
	}
}

// waitCaughtUp waits until the pipeline's cursor is at the head of every
// input partition.
func waitCaughtUp(t testing.TB, sp *spool.Spool, pipeline string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p := 0; p < testParts; {
		_, next, err := sp.Offsets(testIn, p)
		if err != nil {
			t.Fatal(err)
		}
		c, ok, err := sp.Cursor("agg/"+pipeline, testIn, p)
		if err != nil {
			t.Fatal(err)
		}
		if ok && c.Offset == next {
			p++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %d: cursor %d (set %v), head %d after 30s", p, c.Offset, ok, next)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startAgg runs an aggregator over sp; stop closes it and checks Run's result.
func startAgg(t testing.TB, sp *spool.Spool, opts Options) (stop func()) {
	t.Helper()
	opts.Spool = sp
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	return func() {
		t.Helper()
		_ = a.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) { // closed before it ran
			t.Error(err)
		}
	}
}

// testInput makes n records over keys devices, in time order per key but
// out of order up to jitter across and within keys, with some equal times.
func testInput(rng *rand.Rand, start, n, keys int, jitter time.Duration) []spool.Record {
	out := make([]spool.Record, n)
	for i := range out {
		ts := time.Unix(1_700_000_000, 0).Add(time.Duration(start+i) * 10 * time.Millisecond)
		if jitter > 0 {
			ts = ts.Add(-time.Duration(rng.Int64N(int64(jitter))).Truncate(100 * time.Millisecond))
		}
		v := fmt.Sprintf(`{"v":%d,"w":%d}`, rng.IntN(100), i)
		if rng.IntN(50) == 0 {
			v = `{"w":0}` // v missing
		}
		out[i] = spool.Record{Key: fmt.Appendf(nil, "dev-%d", rng.IntN(keys)), Value: []byte(v), Time: ts}
	}
	return out
}

func appendInput(t testing.TB, sp *spool.Spool, recs []spool.Record) {
	t.Helper()
	for len(recs) > 0 {
		n := min(len(recs), 5000)
		if _, err := sp.Append(context.Background(), testIn, recs[:n]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

func TestPipelineEndToEnd(t *testing.T) {
	sp := openTestSpool(t, t.TempDir())
	defer sp.Close()
	p := PipelineConfig{Name: "rbe", From: testIn, To: testOut, Steps: []StepConfig{
		{Filter: `v != nil`},
		{Map: `{"v": v * 10}`},
		{Deadband: &DeadbandConfig{Fields: []string{"v"}, Absolute: 15}},
	}}
	appendInput(t, sp, []spool.Record{
		{Key: []byte("a"), Value: []byte(`{"v":1}`), Time: at(0)},
		{Key: []byte("a"), Value: []byte(`{"v":2}`), Time: at(1)},  // 10 from 10
		{Key: []byte("a"), Value: []byte(`{"x":2}`), Time: at(2)},  // filtered
		{Key: []byte("a"), Value: []byte(`{"v":3}`), Time: at(3)},  // 20 from 10
		{Key: []byte("b"), Value: []byte(`{"v":-1}`), Time: at(3)}, // first
	})
	stop := startAgg(t, sp, Options{CommitInterval: 5 * time.Millisecond, Pipelines: []PipelineConfig{p}})
	waitCaughtUp(t, sp, p.Name)
	stop()
	got := derived(t, sp)
	want := map[string][]string{"a": {`a@0 {"v":10}`, `a@3 {"v":30}`}, "b": {`b@3 {"v":-10}`}}
	sameOutput(t, got, want)
}

// statefulPipeline has two steps with state, lateness, and late records.
func statefulPipeline() PipelineConfig {
	return PipelineConfig{Name: "ds", From: testIn, To: testOut, AllowedLateness: time.Second, Steps: []StepConfig{
		{Filter: `v != nil`},
		{Downsample: &DownsampleConfig{Interval: 500 * time.Millisecond, Mode: DownsampleMean, Fields: []string{"v"}}},
		{Deadband: &DeadbandConfig{Fields: []string{"v"}, Absolute: 5, Heartbeat: 3 * time.Second}},
	}}
}

// Stopping and starting the aggregator mid-stream, at random moments,
// gives exactly what one uninterrupted run gives.
func TestPipelineRestart(t *testing.T) {
	dir := t.TempDir()
	sp := openTestSpool(t, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	p := statefulPipeline()
	opts := Options{Pipelines: []PipelineConfig{p}, CommitInterval: time.Millisecond, CommitRecords: 97}
	appendInput(t, sp, testInput(rng, 0, 20000, 40, 2*time.Second))
	for range 6 {
		stop := startAgg(t, sp, opts)
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		stop()
	}
	sp.Close()
	sp = openTestSpool(t, dir) // and once across a reopened spool
	defer sp.Close()
	appendInput(t, sp, testInput(rng, 20000, 10000, 40, 2*time.Second))
	stop := startAgg(t, sp, opts)
	waitCaughtUp(t, sp, p.Name)
	stop()
	got, want := derived(t, sp), offline(t, sp, p)
	sameOutput(t, got, want)
	n := 0
	for _, v := range want {
		n += len(v)
	}
	if n < 1000 {
		t.Fatalf("only %d records derived: the test shows little", n)
	}
}
