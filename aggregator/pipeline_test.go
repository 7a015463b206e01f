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

	"github.com/prometheus/client_golang/prometheus"
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

// A state larger than one spool value is stored in chunks, restored whole,
// and its chunks beyond a smaller state's are deleted.
func TestLargeStateChunks(t *testing.T) {
	dir := t.TempDir()
	sp := openTestSpool(t, dir)
	defer sp.Close()
	p := PipelineConfig{Name: "big", From: testIn, To: testOut, Steps: []StepConfig{
		{Deadband: &DeadbandConfig{Fields: []string{"v"}, Absolute: 1000}},
	}}
	var recs []spool.Record
	for i := range 30000 { // 30k keys: a deadband state of several MB per partition
		recs = append(recs, spool.Record{Key: fmt.Appendf(nil, "device-%06d", i), Value: []byte(`{"v":1}`), Time: at(float64(i))})
	}
	appendInput(t, sp, recs)
	opts := Options{Pipelines: []PipelineConfig{p}, CommitInterval: 50 * time.Millisecond}
	stop := startAgg(t, sp, opts)
	waitCaughtUp(t, sp, p.Name)
	stop()
	m, states, err := loadStates(sp, newStateKeys(p.Name, 0))
	if err != nil || m == nil || m.Chunks[0] < 2 {
		t.Fatalf("manifest %+v, %v: want a state of several chunks", m, err)
	}
	d := newDeadband(*p.Steps[0].Deadband, &stepStats{})
	if err := d.UnmarshalState(states[0]); err != nil || len(d.keys) < 5000 {
		t.Fatalf("restored %d keys, %v", len(d.keys), err)
	}
	// A second run: every key again, unchanged (no output), then more.
	for i := range recs {
		recs[i].Time = at(float64(30000 + i))
	}
	appendInput(t, sp, recs)
	stop = startAgg(t, sp, opts)
	waitCaughtUp(t, sp, p.Name)
	stop()
	sameOutput(t, derived(t, sp), offline(t, sp, p))
	if got := len(derived(t, sp)); got != 30000 {
		t.Errorf("%d keys derived, want 30000 (each once)", got)
	}
	// Shrink: the chunks past the new state's are deleted in the same commit.
	k := newStateKeys(p.Name, 0)
	tx := new(spool.Txn)
	putStates(tx, k, *m, m.Chunks, [][]byte{[]byte("{}")}, []bool{false})
	if _, err := sp.Commit(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < m.Chunks[0]; i++ {
		if b, err := sp.State(k.chunk(0, i)); err != nil || b != nil {
			t.Errorf("chunk %d: %d bytes left, %v", i, len(b), err)
		}
	}
}

// The metrics count what a pipeline did.
func TestMetrics(t *testing.T) {
	sp := openTestSpool(t, t.TempDir())
	defer sp.Close()
	reg := prometheus.NewRegistry()
	p := PipelineConfig{Name: "m", From: testIn, To: testOut, Steps: []StepConfig{
		{Filter: `v > 1`},
		{Downsample: &DownsampleConfig{Interval: 10 * time.Second, Mode: DownsampleFirst}},
	}}
	appendInput(t, sp, []spool.Record{
		{Key: []byte("a"), Value: []byte(`{"v":2}`), Time: at(10)},
		{Key: []byte("a"), Value: []byte(`{"v":0}`), Time: at(11)}, // filtered
		{Key: []byte("a"), Value: []byte(`{"w":0}`), Time: at(12)}, // filtered: nil > 1 fails
		{Key: []byte("a"), Value: []byte(`{"v":3}`), Time: at(1)},  // late
		{Key: []byte("a"), Value: []byte(`{"v":4}`), Time: at(20)},
	})
	stop := startAgg(t, sp, Options{Pipelines: []PipelineConfig{p}, Registerer: reg, CommitInterval: time.Millisecond})
	waitCaughtUp(t, sp, p.Name)
	want := map[string]float64{
		"records_in_total": 5, "records_out_total": 2, "filtered_total": 2, "expression_errors_total": 1, "late_total": 1,
		"lag_records": 0, "lag_seconds": 0,
	}
	// The cursor is visible a moment before the commit that moved it
	// returns and the metrics are updated: read them until they settle.
	var problems []string
	var seen map[string]bool
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		problems, seen = problems[:0], map[string]bool{}
		for _, mf := range mfs {
			name := strings.TrimPrefix(mf.GetName(), "tributary_aggregator_")
			seen[name] = true
			m := mf.GetMetric()[0]
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if w, ok := want[name]; ok && v != w {
				problems = append(problems, fmt.Sprintf("%s = %v, want %v", name, v, w))
			}
			if name == "state_bytes" && v <= 0 {
				problems = append(problems, fmt.Sprintf("state_bytes = %v", v))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, n := range []string{"records_in_total", "records_out_total", "filtered_total", "late_total", "state_bytes", "lag_seconds", "commits_total"} {
		if !seen[n] {
			t.Errorf("no metric %s", n)
		}
	}
	stop()
}

// Input deleted before the pipeline read it (drop_oldest on a full stream)
// is skipped and counted; the rest is processed.
func TestGapInInput(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Options{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for _, s := range []spool.StreamConfig{
		{Name: "small", Partitions: 1, MaxBytes: 64 << 10, Full: spool.DropOldest, Uncompressed: true},
		{Name: "derived", Partitions: 1, MaxBytes: 64 << 20},
	} {
		if err := sp.EnsureStream(s); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	p := PipelineConfig{Name: "g", From: "small", To: "derived", Steps: []StepConfig{{Filter: "true"}}}
	a, err := New(Options{Spool: sp, Pipelines: []PipelineConfig{p}, Registerer: reg, CommitInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Init(); err != nil { // the cursor protects offset 0, but drop_oldest goes past it
		t.Fatal(err)
	}
	for i := range 40 {
		var recs []spool.Record
		for j := range 50 {
			recs = append(recs, spool.Record{Key: []byte("k"), Value: fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i*50+j, strings.Repeat("x", 100)), Time: at(float64(i*50 + j))})
		}
		if _, err := sp.Append(context.Background(), "small", recs...); err != nil {
			t.Fatal(err)
		}
	}
	_, next, _ := sp.Offsets("small", 0)
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if c, _, _ := sp.Cursor("agg/g", "small", 0); c.Offset == next {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not caught up")
		}
	}
	gapped := counterValue(t, reg, "tributary_aggregator_gap_records_total")
	_ = a.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := readAll(t, sp, "derived", 0)
	held := readAll(t, sp, "small", 0)
	dropped := next - uint64(len(held))
	if dropped == 0 || len(out) != len(held) || len(out) == 0 {
		t.Fatalf("%d records dropped (want some: a gap), derived %d, held %d", dropped, len(out), len(held))
	}
	if string(out[0].Value) != string(held[0].Value) {
		t.Errorf("first derived %s, want the first record held %s", out[0].Value, held[0].Value)
	}
	if gapped != float64(dropped) {
		t.Errorf("gap_records_total = %v, want %d", gapped, dropped)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}
