package aggregator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// t0 is a minute boundary: windows of a minute start here.
var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func wat(d time.Duration) time.Time { return t0.Add(d) }

func wrec(key string, t time.Time, value string) *Record {
	return &Record{Key: []byte(key), Value: []byte(value), Time: t}
}

// harness drives a window step and collects what it emits.
type harness struct {
	t   *testing.T
	op  *windowOp
	out []*Record
}

func newHarness(t *testing.T, cfg WindowConfig, p PipelineConfig) *harness {
	t.Helper()
	op, err := newWindow(cfg, p)
	if err != nil {
		t.Fatalf("newWindow: %v", err)
	}
	return &harness{t: t, op: op.(*windowOp)}
}

func (h *harness) emit(r *Record) { h.out = append(h.out, r) }

func (h *harness) process(rs ...*Record) *harness {
	h.t.Helper()
	for _, r := range rs {
		if err := h.op.Process(r, h.emit); err != nil {
			h.t.Fatalf("Process: %v", err)
		}
	}
	return h
}

func (h *harness) advance(wm time.Time) *harness {
	h.t.Helper()
	if err := h.op.Advance(wm, h.emit); err != nil {
		h.t.Fatalf("Advance: %v", err)
	}
	return h
}

// take returns the records emitted since the last take.
func (h *harness) take() []*Record {
	out := h.out
	h.out = nil
	return out
}

// result is an output record's value, decoded.
type result struct {
	WindowStart time.Time                             `json:"window_start"`
	WindowEnd   time.Time                             `json:"window_end"`
	Group       map[string]any                        `json:"group"`
	Count       uint64                                `json:"count"`
	Aggregates  map[string]map[string]json.RawMessage `json:"aggregates"`
	Correction  bool                                  `json:"correction"`
	Revision    int                                   `json:"revision"`
}

func decode(t *testing.T, r *Record) result {
	t.Helper()
	var res result
	dec := json.NewDecoder(bytes.NewReader(r.Value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("output %s: %v", r.Value, err)
	}
	if !r.Time.Equal(res.WindowStart) {
		t.Errorf("record time %v, window_start %v", r.Time, res.WindowStart)
	}
	return res
}

// agg is one function's result: its JSON text ("null" for none).
func (r result) agg(field, fn string) string { return string(r.Aggregates[field][fn]) }

func (r result) num(t *testing.T, field, fn string) float64 {
	t.Helper()
	var f float64
	if err := json.Unmarshal(r.Aggregates[field][fn], &f); err != nil {
		t.Fatalf("%s.%s = %s: %v", field, fn, r.Aggregates[field][fn], err)
	}
	return f
}

func allFuncs(field string) AggregateConfig {
	return AggregateConfig{Field: field, Functions: []string{"count", "sum", "min", "max", "mean", "first", "last", "stddev", "p50", "p95", "p99"}}
}

var tumbling = WindowConfig{Size: time.Minute, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{
	{Field: "v", Functions: []string{"count", "sum", "min", "max", "mean", "first", "last", "stddev"}},
}}

func TestWindowOutputFormat(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{})
	h.process(
		wrec("m-1", wat(10*time.Second), `{"v":2}`),
		wrec("m-1", wat(20*time.Second), `{"v":4.5}`),
		wrec("m-1", wat(5*time.Second), `{"v":-1e-7,"x":"y"}`),
	).advance(wat(time.Minute))
	out := h.take()
	if len(out) != 1 {
		t.Fatalf("got %d records, want 1", len(out))
	}
	r := out[0]
	want := `{"window_start":"2026-11-29T10:00:00Z","window_end":"2026-11-29T10:01:00Z","group":{"key":"m-1"},"count":3,` +
		`"aggregates":{"v":{"count":3,"sum":6.4999999,"min":-1e-7,"max":4.5,"mean":2.166666633333333,"first":-1e-7,"last":4.5,"stddev":1.8408935420967003}}}`
	if string(r.Value) != want {
		t.Errorf("value\n got %s\nwant %s", r.Value, want)
	}
	if string(r.Key) != "m-1" || !r.Time.Equal(t0) {
		t.Errorf("key %q time %v, want m-1 %v", r.Key, r.Time, t0)
	}
	if len(r.Headers) != 1 || r.Headers[0].Key != HeaderWindow || string(r.Headers[0].Value) != "tumbling" {
		t.Errorf("headers %+v, want tributary.window=tumbling", r.Headers)
	}
}

func TestWindowTumblingByKey(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{})
	h.process(
		wrec("b", wat(1*time.Second), `{"v":1}`),
		wrec("a", wat(2*time.Second), `{"v":10}`),
		wrec("b", wat(3*time.Second), `{"v":3}`),
		wrec("b", wat(59*time.Second+999*time.Millisecond), `{"v":8}`),
		wrec("b", wat(60*time.Second), `{"v":100}`), // next window: [10:01, 10:02)
	).advance(wat(59 * time.Second))
	if out := h.take(); len(out) != 0 {
		t.Fatalf("window closed before its end: %s", out[0].Value)
	}
	h.advance(wat(time.Minute))
	out := h.take()
	if len(out) != 2 {
		t.Fatalf("got %d records, want 2 (a, b)", len(out))
	}
	a, b := decode(t, out[0]), decode(t, out[1])
	if a.Group["key"] != "a" || b.Group["key"] != "b" {
		t.Fatalf("order %v, %v: want a then b", a.Group, b.Group)
	}
	// b: 1, 3, 8. mean 4; population variance ((−3)²+(−1)²+4²)/3 = 26/3.
	checks := map[string]string{"count": "3", "sum": "12", "min": "1", "max": "8", "mean": "4", "first": "1", "last": "8"}
	for fn, want := range checks {
		if got := b.agg("v", fn); got != want {
			t.Errorf("b %s = %s, want %s", fn, got, want)
		}
	}
	if got, want := b.num(t, "v", "stddev"), math.Sqrt(26.0/3); math.Abs(got-want) > 1e-12 {
		t.Errorf("b stddev = %v, want %v", got, want)
	}
	if a.Count != 1 || a.agg("v", "stddev") != "0" || a.agg("v", "mean") != "10" {
		t.Errorf("a = %+v, want count 1, mean 10, stddev 0", a)
	}
	if !b.WindowStart.Equal(t0) || !b.WindowEnd.Equal(wat(time.Minute)) {
		t.Errorf("b window [%v, %v)", b.WindowStart, b.WindowEnd)
	}
	h.advance(wat(2 * time.Minute))
	out = h.take()
	if len(out) != 1 || decode(t, out[0]).agg("v", "sum") != "100" {
		t.Fatalf("second window: %d records, want one with sum 100", len(out))
	}
}

func TestWindowHopping(t *testing.T) {
	cfg := WindowConfig{Size: 10 * time.Second, Slide: 5 * time.Second, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum", "count"}}}}
	h := newHarness(t, cfg, PipelineConfig{})
	h.process(
		wrec("x", wat(1*time.Second), `{"v":1}`),
		wrec("y", wat(6*time.Second), `{"v":2}`),
		wrec("x", wat(12*time.Second), `{"v":4}`),
	).advance(wat(time.Hour))
	// Windows: [−5,5): 1; [0,10): 1+2; [5,15): 2+4; [10,20): 4. No GroupBy: one group.
	want := []struct {
		start time.Duration
		sum   string
		count uint64
	}{{-5 * time.Second, "1", 1}, {0, "3", 2}, {5 * time.Second, "6", 2}, {10 * time.Second, "4", 1}}
	out := h.take()
	if len(out) != len(want) {
		t.Fatalf("got %d records, want %d", len(out), len(want))
	}
	for i, w := range want {
		r := decode(t, out[i])
		if !r.WindowStart.Equal(wat(w.start)) || !r.WindowEnd.Equal(wat(w.start+10*time.Second)) || r.agg("v", "sum") != w.sum || r.Count != w.count {
			t.Errorf("window %d: %s, want start %v sum %s count %d", i, out[i].Value, w.start, w.sum, w.count)
		}
		if string(out[i].Key) != "" || len(r.Group) != 0 || string(out[i].Headers[0].Value) != "hopping" {
			t.Errorf("window %d: key %q group %v header %s, want empty, {} and hopping", i, out[i].Key, r.Group, out[i].Headers[0].Value)
		}
		if got := r.agg("v", "count"); got != fmt.Sprint(w.count) {
			t.Errorf("window %d: v.count %s", i, got)
		}
	}
}

func TestWindowGroupByFields(t *testing.T) {
	cfg := WindowConfig{Size: time.Minute, GroupBy: []string{"site", "key"}, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum"}}}}
	h := newHarness(t, cfg, PipelineConfig{})
	h.process(
		wrec("m1", wat(1*time.Second), `{"site":"north","v":1}`),
		wrec("m1", wat(2*time.Second), `{"site":"south","v":2}`),
		wrec("m2", wat(3*time.Second), `{"site":"north","v":4}`),
		wrec("m1", wat(4*time.Second), `{"site":"north","v":8}`),
		wrec("m1", wat(5*time.Second), `{"v":16}`),
		wrec("m1", wat(6*time.Second), `{"site":7,"v":32}`),
	).advance(wat(time.Minute))
	got := map[string]string{}
	for _, r := range h.take() {
		res := decode(t, r)
		g, _ := json.Marshal(res.Group)
		got[string(r.Key)+" "+string(g)] = res.agg("v", "sum")
	}
	want := map[string]string{
		`north/m1 {"key":"m1","site":"north"}`: "9",
		`south/m1 {"key":"m1","site":"south"}`: "2",
		`north/m2 {"key":"m2","site":"north"}`: "4",
		`/m1 {"key":"m1","site":null}`:         "16",
		`7/m1 {"key":"m1","site":7}`:           "32",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups\n got %v\nwant %v", got, want)
	}
}

func TestWindowGroupOrderIsGroupByOrder(t *testing.T) {
	cfg := WindowConfig{Size: time.Minute, GroupBy: []string{"site", "key"}}
	h := newHarness(t, cfg, PipelineConfig{})
	h.process(wrec("m1", wat(time.Second), `{"site":"a\"b"}`)).advance(wat(time.Minute))
	out := h.take()
	if !strings.Contains(string(out[0].Value), `"group":{"site":"a\"b","key":"m1"},"count":1,"aggregates":{}}`) {
		t.Errorf("value %s: want group members in GroupBy order", out[0].Value)
	}
}

func TestWindowSkipsNaNMissingAndNonNumbers(t *testing.T) {
	cfg := WindowConfig{Size: time.Minute, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{allFuncs("v"), allFuncs("w")}}
	h := newHarness(t, cfg, PipelineConfig{})
	nan := wrec("k", wat(1*time.Second), `{}`)
	nan.SetFields(map[string]any{}) //nolint:errcheck // an empty map encodes
	nan.fields["v"] = math.NaN()    // as a map step could leave it
	nan.fields["w"] = math.Inf(1)
	h.process(
		nan,
		wrec("k", wat(2*time.Second), `{"v":"NaN","w":"3"}`),
		wrec("k", wat(3*time.Second), `{"v":null,"w":true}`),
		wrec("k", wat(4*time.Second), `{"v":{"x":1},"w":[1]}`),
		wrec("k", wat(5*time.Second), `not json`),
		wrec("k", wat(6*time.Second), `{"v":5}`),
		wrec("k", wat(7*time.Second), `{"v":7}`),
	).advance(wat(time.Minute))
	r := decode(t, h.take()[0])
	if r.Count != 7 {
		t.Errorf("count %d, want 7: every record counts", r.Count)
	}
	for fn, want := range map[string]string{"count": "2", "sum": "12", "min": "5", "max": "7", "mean": "6", "first": "5", "last": "7", "stddev": "1"} {
		if got := r.agg("v", fn); got != want {
			t.Errorf("v.%s = %s, want %s", fn, got, want)
		}
	}
	for _, fn := range []string{"p50", "p95", "p99"} {
		if got := r.num(t, "v", fn); math.Abs(got-5)/5 > 0.01 && math.Abs(got-7)/7 > 0.01 {
			t.Errorf("v.%s = %v, want 5 or 7 within 1%%", fn, got)
		}
	}
	want := `"w":{"count":0,"sum":null,"min":null,"max":null,"mean":null,"first":null,"last":null,"stddev":null,"p50":null,"p95":null,"p99":null}`
	if !strings.Contains(string(h.op.output(0, &group{fields: make([]fieldAgg, 2)}).Value), want) {
		t.Errorf("a field with no numbers: want %s", want)
	}
	if r.agg("w", "count") != "0" || r.agg("w", "mean") != "null" {
		t.Errorf("w = %v, want count 0 and nulls", r.Aggregates["w"])
	}
}

func TestWindowEmptyWindowsEmitNothing(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{})
	h.advance(wat(time.Hour))
	if out := h.take(); len(out) != 0 {
		t.Fatalf("no records: got %d outputs", len(out))
	}
	h.process(wrec("k", wat(time.Hour+time.Second), `{"v":1}`), wrec("k", wat(5*time.Hour), `{"v":2}`))
	h.advance(wat(6 * time.Hour))
	if out := h.take(); len(out) != 2 {
		t.Fatalf("two records four hours apart: got %d outputs, want 2 (no empty windows between)", len(out))
	}
}

func TestWindowEqualTimestamps(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{})
	ts := wat(30 * time.Second)
	h.process(wrec("k", ts, `{"v":3}`), wrec("k", ts, `{"v":1}`), wrec("k", ts, `{"v":2}`))
	h.process(wrec("k", wat(time.Minute), `{"v":9}`)) // at the end: the next window
	h.advance(wat(time.Minute))
	r := decode(t, h.take()[0])
	if r.agg("v", "first") != "3" || r.agg("v", "last") != "2" || r.Count != 3 {
		t.Errorf("equal times: first %s last %s count %d, want 3, 2 (offset order), 3", r.agg("v", "first"), r.agg("v", "last"), r.Count)
	}
}

func TestWindowOutOfOrderWithinLateness(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{AllowedLateness: 30 * time.Second})
	h.process(wrec("k", wat(50*time.Second), `{"v":5}`), wrec("k", wat(70*time.Second), `{"v":7}`))
	h.advance(wat(40 * time.Second)) // max event time 70 s − lateness 30 s
	h.process(wrec("k", wat(10*time.Second), `{"v":1}`))
	h.advance(wat(60 * time.Second))
	out := h.take()
	if len(out) != 1 {
		t.Fatalf("got %d records, want 1", len(out))
	}
	r := decode(t, out[0])
	if r.agg("v", "first") != "1" || r.agg("v", "last") != "5" || r.agg("v", "sum") != "6" || h.op.Late() != 0 {
		t.Errorf("first %s last %s sum %s late %d, want 1 (earliest time), 5, 6, 0", r.agg("v", "first"), r.agg("v", "last"), r.agg("v", "sum"), h.op.Late())
	}
}

func TestWindowLateDropped(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{Late: "drop"})
	h.process(wrec("k", wat(10*time.Second), `{"v":1}`)).advance(wat(time.Minute))
	h.take()
	h.process(wrec("k", wat(20*time.Second), `{"v":2}`), wrec("k", wat(59*time.Second), `{"v":3}`))
	h.process(wrec("k", wat(time.Minute), `{"v":4}`)) // not late: the next window
	h.advance(wat(2 * time.Minute))
	out := h.take()
	if len(out) != 1 || decode(t, out[0]).agg("v", "sum") != "4" {
		t.Fatalf("want only the second window (sum 4), got %d records", len(out))
	}
	if h.op.Late() != 2 {
		t.Errorf("Late() = %d, want 2", h.op.Late())
	}
}

func TestWindowLateCorrected(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{Late: "correct", AllowedLateness: 2 * time.Minute})
	h.process(wrec("k", wat(10*time.Second), `{"v":1}`)).advance(wat(time.Minute))
	if r := decode(t, h.take()[0]); r.Correction || r.Revision != 0 || r.agg("v", "sum") != "1" {
		t.Fatalf("first emission %+v: want no correction, sum 1", r)
	}
	h.process(wrec("k", wat(20*time.Second), `{"v":2}`), wrec("j", wat(30*time.Second), `{"v":5}`), wrec("k", wat(40*time.Second), `{"v":3}`))
	out := h.take()
	want := []struct {
		key, sum string
		rev      int
	}{{"k", "3", 1}, {"j", "5", 1}, {"k", "6", 2}}
	if len(out) != len(want) {
		t.Fatalf("got %d corrections, want %d", len(out), len(want))
	}
	for i, w := range want {
		r := decode(t, out[i])
		if string(out[i].Key) != w.key || r.agg("v", "sum") != w.sum || !r.Correction || r.Revision != w.rev || !r.WindowStart.Equal(t0) {
			t.Errorf("correction %d: %s, want key %s sum %s revision %d", i, out[i].Value, w.key, w.sum, w.rev)
		}
	}
	if !strings.HasSuffix(string(out[2].Value), `,"correction":true,"revision":2}`) {
		t.Errorf("correction format: %s", out[2].Value)
	}
	// Retention is max(lateness 2 min, size 1 min): the window [0, 1 min)
	// is kept until the watermark reaches 3 min.
	h.advance(wat(3*time.Minute - time.Nanosecond))
	h.process(wrec("k", wat(50*time.Second), `{"v":10}`))
	if out := h.take(); len(out) != 1 || decode(t, out[0]).agg("v", "sum") != "16" {
		t.Fatalf("within retention: want a correction with sum 16")
	}
	h.advance(wat(3 * time.Minute))
	h.process(wrec("k", wat(55*time.Second), `{"v":100}`))
	if out := h.take(); len(out) != 0 {
		t.Fatalf("past retention: got a correction %s, want a drop", out[0].Value)
	}
	if h.op.Late() != 5 {
		t.Errorf("Late() = %d, want 5 (4 corrected, 1 dropped)", h.op.Late())
	}
}

func TestWindowHoppingPartlyLate(t *testing.T) {
	cfg := WindowConfig{Size: 10 * time.Second, Slide: 5 * time.Second, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum"}}}}
	h := newHarness(t, cfg, PipelineConfig{})
	h.advance(wat(10 * time.Second))
	h.process(wrec("k", wat(7*time.Second), `{"v":1}`)) // [0,10) closed; [5,15) open
	h.advance(wat(time.Minute))
	out := h.take()
	if len(out) != 1 || !decode(t, out[0]).WindowStart.Equal(wat(5*time.Second)) || h.op.Late() != 1 {
		t.Fatalf("got %d records, late %d: want only window [5s,15s), late 1", len(out), h.op.Late())
	}
}

func TestWindowClockJump(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{AllowedLateness: 10 * time.Second})
	h.process(wrec("a", wat(5*time.Second), `{"v":1}`), wrec("b", wat(65*time.Second), `{"v":2}`))
	// A device whose clock jumped a year ahead: the watermark follows it.
	future := t0.AddDate(1, 0, 0)
	h.process(wrec("c", future, `{"v":3}`))
	h.advance(future.Add(-10 * time.Second))
	out := h.take()
	if len(out) != 2 || string(out[0].Key) != "a" || string(out[1].Key) != "b" {
		t.Fatalf("after the jump: %d records, want the windows of a then b", len(out))
	}
	h.process(wrec("a", wat(70*time.Second), `{"v":4}`), wrec("d", future.Add(-2*time.Minute), `{"v":5}`))
	if h.op.Late() != 2 {
		t.Errorf("Late() = %d, want 2: records from before the jump are late", h.op.Late())
	}
	h.advance(future.Add(time.Minute))
	out = h.take()
	if len(out) != 1 || string(out[0].Key) != "c" {
		t.Fatalf("got %d records, want the future window of c", len(out))
	}
}

func TestWindowWatermarkNeverGoesBack(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{})
	h.advance(wat(2 * time.Minute)).advance(wat(0))
	h.process(wrec("k", wat(time.Minute), `{"v":1}`))
	if h.op.Late() != 1 {
		t.Errorf("Late() = %d: a lower watermark must not reopen windows", h.op.Late())
	}
}

func TestWindowConfigErrors(t *testing.T) {
	v := []AggregateConfig{{Field: "v", Functions: []string{"mean"}}}
	cases := map[string]struct {
		cfg  WindowConfig
		p    PipelineConfig
		want string
	}{
		"no size":      {WindowConfig{}, PipelineConfig{}, "invalid window size 0s: must be more than 0"},
		"slide > size": {WindowConfig{Size: time.Minute, Slide: 2 * time.Minute}, PipelineConfig{}, "invalid window slide 2m0s: must be more than 0 and at most the size 1m0s (0: tumbling)"},
		"neg slide":    {WindowConfig{Size: time.Minute, Slide: -1}, PipelineConfig{}, "invalid window slide -1ns: must be more than 0 and at most the size 1m0s (0: tumbling)"},
		"too many":     {WindowConfig{Size: time.Hour, Slide: time.Second}, PipelineConfig{}, "invalid window slide 1s: size/slide must be at most 1000"},
		"empty group":  {WindowConfig{Size: time.Minute, GroupBy: []string{""}}, PipelineConfig{}, `invalid window group_by[0]: empty; use "key" or a value field name`},
		"twice group":  {WindowConfig{Size: time.Minute, GroupBy: []string{"key", "key"}}, PipelineConfig{}, `invalid window group_by[1]: "key" is listed twice`},
		"no field":     {WindowConfig{Size: time.Minute, Aggregates: []AggregateConfig{{Functions: []string{"sum"}}}}, PipelineConfig{}, "invalid window aggregates[0].field: empty"},
		"twice field":  {WindowConfig{Size: time.Minute, Aggregates: append(v, v...)}, PipelineConfig{}, `invalid window aggregates[1].field: "v" is listed twice; list its functions once`},
		"no functions": {WindowConfig{Size: time.Minute, Aggregates: []AggregateConfig{{Field: "v"}}}, PipelineConfig{}, "invalid window aggregates[0].functions: empty; allowed: [count sum min max mean first last stddev p50 p95 p99]"},
		"bad function": {WindowConfig{Size: time.Minute, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum", "median"}}}}, PipelineConfig{}, `invalid window aggregates[0].functions[1]: unknown function "median"; allowed: [count sum min max mean first last stddev p50 p95 p99]`},
		"bad late":     {WindowConfig{Size: time.Minute}, PipelineConfig{Late: "keep"}, `invalid late "keep": must be "drop" (the default) or "correct"`},
		"neg lateness": {WindowConfig{Size: time.Minute}, PipelineConfig{AllowedLateness: -time.Second}, "invalid allowed_lateness -1s: must be 0 or more"},
	}
	for name, c := range cases {
		_, err := newWindow(c.cfg, c.p)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

func TestWindowGroupValuesOfEveryKind(t *testing.T) {
	cfg := WindowConfig{Size: time.Minute, GroupBy: []string{"g"}, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum"}}}}
	h := newHarness(t, cfg, PipelineConfig{})
	for _, g := range []string{`true`, `false`, `null`, `{"b":1,"a":[2]}`, `[1,"x"]`, `1.50`, `"tab\tnl\n\u0001"`, "\"\xff\""} {
		h.process(wrec("k", wat(time.Second), `{"g":`+g+`,"v":1e21}`))
	}
	h.advance(wat(time.Minute))
	var got []string
	for _, r := range h.take() {
		res := decode(t, r)
		got = append(got, fmt.Sprintf("%s|%s|%s", r.Key, r.Value[bytes.Index(r.Value, []byte(`"group"`)):bytes.Index(r.Value, []byte(`,"count"`))], res.agg("v", "sum")))
	}
	sorted := strings.Join(got, "\n")
	for _, w := range []string{
		`true|"group":{"g":true}|1e+21`, `false|"group":{"g":false}|1e+21`, `|"group":{"g":null}|1e+21`,
		`{"a":[2],"b":1}|"group":{"g":{"a":[2],"b":1}}|1e+21`, `[1,"x"]|"group":{"g":[1,"x"]}|1e+21`,
		`1.5|"group":{"g":1.5}|1e+21`, "tab\tnl\n\x01|\"group\":{\"g\":\"tab\\tnl\\n\\u0001\"}|1e+21",
		"\uFFFD|\"group\":{\"g\":\"\uFFFD\"}|1e+21",
	} {
		if !strings.Contains(sorted, w) {
			t.Errorf("missing group %q in\n%s", w, sorted)
		}
	}
	if len(got) != 8 {
		t.Errorf("got %d groups, want 8", len(got))
	}
}

func TestWindowBeforeTheEpoch(t *testing.T) {
	h := newHarness(t, tumbling, PipelineConfig{})
	old := time.Date(1969, 12, 31, 23, 59, 30, 0, time.UTC)
	h.process(wrec("k", old, `{"v":1}`), wrec("k", old.Add(30*time.Second), `{"v":2}`)).advance(old.Add(time.Hour))
	out := h.take()
	if len(out) != 2 || !out[0].Time.Equal(time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC)) || !out[1].Time.Equal(time.Unix(0, 0)) {
		t.Fatalf("windows before the epoch: %d records, first at %v", len(out), out[0].Time)
	}
}

func TestWindowHoppingCorrections(t *testing.T) {
	cfg := WindowConfig{Size: 10 * time.Second, Slide: 5 * time.Second, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum"}}}}
	h := newHarness(t, cfg, PipelineConfig{Late: "correct"})
	h.process(wrec("k", wat(6*time.Second), `{"v":1}`)).advance(wat(15 * time.Second))
	if n := len(h.take()); n != 2 { // [0,10) and [5,15)
		t.Fatalf("got %d windows, want 2", n)
	}
	h.process(wrec("k", wat(7*time.Second), `{"v":2}`))
	out := h.take()
	if len(out) != 2 {
		t.Fatalf("got %d corrections, want one per closed window (2)", len(out))
	}
	for i, start := range []time.Duration{5 * time.Second, 0} {
		r := decode(t, out[i])
		if !r.WindowStart.Equal(wat(start)) || r.agg("v", "sum") != "3" || r.Revision != 1 {
			t.Errorf("correction %d: %s, want window at %v with sum 3, revision 1", i, out[i].Value, start)
		}
	}
}
