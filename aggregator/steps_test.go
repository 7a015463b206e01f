package aggregator

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// nan is a record whose field v holds NaN (JSON cannot; an earlier step's
// map can).
func nan(key string, s float64) *Record {
	r := rec(key, s, "")
	r.decoded, r.fields = true, map[string]any{"v": math.NaN()}
	return r
}

func TestDeadbandAbsolute(t *testing.T) {
	mk := func() Operator { return newDeadband(DeadbandConfig{Fields: []string{"v"}, Absolute: 1}, &stepStats{}) }
	both(t, mk, []string{
		`a@0 {"v":10}`,
		`a@3 {"v":11.01}`,
		`b@3 {"v":0}`,
		`a@5 {"v":9.9}`,
	},
		rec("a", 0, `{"v":10}`),
		rec("a", 1, `{"v":10.5}`),  // moved 0.5
		rec("a", 2, `{"v":11}`),    // moved exactly 1: not more than
		rec("a", 3, `{"v":11.01}`), // 1.01
		rec("b", 3, `{"v":0}`),     // b's first
		rec("a", 4, `{"x":1}`),     // v missing: not compared
		rec("a", 5, `{"v":9.9}`),   // 1.11 from 11.01
		rec("a", 6, `not json`),    // no fields at all
	)
}

func TestDeadbandRelativeAndZero(t *testing.T) {
	rel := func() Operator {
		return newDeadband(DeadbandConfig{Fields: []string{"v"}, Relative: 0.1}, &stepStats{})
	}
	both(t, rel, []string{`a@0 {"v":100}`, `a@2 {"v":111}`, `a@4 {"v":99.8}`},
		rec("a", 0, `{"v":100}`),
		rec("a", 1, `{"v":109}`),  // 9 ≤ 10
		rec("a", 2, `{"v":111}`),  // 11 > 10
		rec("a", 3, `{"v":100}`),  // 11 ≤ 11.1
		rec("a", 4, `{"v":99.8}`), // 11.2 > 11.1
	)
	anyChange := func() Operator { return newDeadband(DeadbandConfig{Fields: []string{"v", "w"}}, &stepStats{}) }
	both(t, anyChange, []string{`a@0 {"v":1}`, `a@2 {"v":1.0000001}`, `a@3 {"v":1.0000001,"w":"on"}`, `a@5 {"w":"off"}`},
		rec("a", 0, `{"v":1}`),
		rec("a", 1, `{"v":1}`),
		rec("a", 2, `{"v":1.0000001}`),
		rec("a", 3, `{"v":1.0000001,"w":"on"}`), // w seen first
		rec("a", 4, `{"w":"on"}`),
		rec("a", 5, `{"w":"off"}`),
	)
}

func TestDeadbandNaNAndNull(t *testing.T) {
	mk := func() Operator {
		return newDeadband(DeadbandConfig{Fields: []string{"v"}, Absolute: 100}, &stepStats{})
	}
	both(t, mk, []string{`a@0 {"v":1}`, `a@1 `, `a@3 {"v":1}`, `a@4 {"v":null}`, `a@6 {"v":2}`},
		rec("a", 0, `{"v":1}`),
		nan("a", 1), // to NaN: emits once
		nan("a", 2), // NaN equals NaN
		rec("a", 3, `{"v":1}`),
		rec("a", 4, `{"v":null}`),
		rec("a", 5, `{"v":null}`),
		rec("a", 6, `{"v":2}`), // from null: a change, whatever the threshold
	)
}

func TestDeadbandHeartbeat(t *testing.T) {
	mk := func() Operator {
		return newDeadband(DeadbandConfig{Fields: []string{"v"}, Absolute: 5, Heartbeat: 10 * time.Second}, &stepStats{})
	}
	both(t, mk, []string{
		`a@0 {"v":1}`,
		`a@10 {"v":2}`, // due on the key's own record
		`a@12 {"v":3}`, // due by the watermark: the latest record held back
		`b@41 {"v":1}`,
		`a@1e+06 {"v":3}`, // a clock jump forward makes the heartbeat due
	},
		rec("a", 0, `{"v":1}`),
		rec("a", 5, `{"v":2}`),
		rec("a", 10, `{"v":2}`),
		rec("a", 11, `{"v":2}`),
		rec("a", 12, `{"v":3}`),
		advance(19), // 10+10 not reached
		advance(20),
		advance(40), // nothing held back: nothing to repeat
		rec("b", 41, `{"v":1}`),
		rec("a", 1e6, `{"v":3}`),
		rec("a", 50, `{"v":3}`), // back in time: held back, not due
		advance(1e6+5),
	)
}

func TestDeadbandEqualTimestamps(t *testing.T) {
	mk := func() Operator { return newDeadband(DeadbandConfig{Fields: []string{"v"}, Absolute: 1}, &stepStats{}) }
	both(t, mk, []string{`a@7 {"v":1}`, `a@7 {"v":10}`},
		rec("a", 7, `{"v":1}`), rec("a", 7, `{"v":10}`), rec("a", 7, `{"v":10.5}`))
}

func TestDownsampleFirst(t *testing.T) {
	stats := &stepStats{}
	mk := func() Operator {
		return newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: "first"}, stats)
	}
	both(t, mk, []string{`a@0 {"v":1}`, `a@10 {"v":4}`, `b@3 {"v":6}`, `c@-5 {"v":7}`},
		rec("a", 0, `{"v":1}`),
		rec("a", 5, `{"v":2}`),
		rec("a", 9.999, `{"v":3}`),
		rec("a", 10, `{"v":4}`), // bucket [10,20)
		rec("a", 3, `{"v":5}`),  // late: bucket 0 is behind
		rec("b", 3, `{"v":6}`),
		advance(100),
		rec("c", -5, `{"v":7}`), // bucket [-10,0)
	)
	if got := stats.late.Load(); got != 2 { // once per run of both
		t.Errorf("late = %d, want 2", got)
	}
}

func TestDownsampleFirstNegative(t *testing.T) {
	d := newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: "first"}, &stepStats{})
	if b := d.bucketOf(at(-5)); b != -10e9 {
		t.Errorf("bucket of -5s = %d, want -10s", b)
	}
}

func TestDownsampleLast(t *testing.T) {
	stats := &stepStats{}
	mk := func() Operator {
		return newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: "last"}, stats)
	}
	both(t, mk, []string{`a@5 {"v":2}`, `b@7 {"v":3}`, `a@12 {"v":4}`},
		rec("a", 0, `{"v":1}`),
		rec("a", 5, `{"v":2}`),
		rec("b", 7, `{"v":3}`),
		rec("a", 12, `{"v":4}`), // closes a's bucket 0
		advance(9.999),
		advance(10),            // closes b's bucket [0,10)
		rec("a", 8, `{"v":5}`), // late
		rec("b", 9, `{"v":6}`), // late: b's bucket 0 is emitted
		advance(10),            // nothing new
		advance(20),            // closes a's [10,20)
		advance(30),            // nothing open: empty buckets emit nothing
	)
	if got := stats.late.Load(); got != 4 {
		t.Errorf("late = %d, want 4", got)
	}
}

func TestDownsampleMean(t *testing.T) {
	mk := func() Operator {
		return newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: "mean", Fields: []string{"v"}}, &stepStats{})
	}
	both(t, mk, []string{`a@3 {"s":"w","v":1.5}`, `a@10 {"s":"q"}`, `a@20 {"v":2}`},
		rec("a", 0, `{"v":1,"s":"x"}`),
		rec("a", 1, `{"v":2,"s":"y"}`),
		rec("a", 2, `{"v":null,"s":"z"}`), // null: not a number, left out
		nan("a", 2.5),                     // NaN: left out
		rec("a", 3, `{"s":"w"}`),          // missing: left out
		advance(10),
		rec("a", 10, `{"s":"q"}`), // no number at all: v stays as the last record has it
		advance(20),
		rec("a", 20, `{"v":1}`),
		rec("a", 20, `{"v":3}`), // equal timestamps
		advance(30),
	)
}

func TestDownsampleClockJump(t *testing.T) {
	stats := &stepStats{}
	mk := func() Operator {
		return newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: "last"}, stats)
	}
	both(t, mk, []string{`a@0 {"v":1}`, `b@1 {"v":1}`},
		rec("a", 0, `{"v":1}`),
		rec("b", 1, `{"v":1}`),
		rec("a", 1e6, `{"v":2}`), // a device clock jumps forward
		advance(1e6),             // the watermark follows it: b's bucket closes
		rec("a", 5, `{"v":3}`),   // the clock comes back: late
		rec("b", 6, `{"v":3}`),   // late too
	)
	if got := stats.late.Load(); got != 4 {
		t.Errorf("late = %d, want 4", got)
	}
}

// chainOut runs records through a compiled pipeline's chain.
func chainOut(t *testing.T, p PipelineConfig, recs ...*Record) []string {
	t.Helper()
	pl, err := compile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ch, err := pl.newChain(func(r *Record) { out = append(out, show(r)) })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := ch.process(r); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%q\nwant\n\t%q", got, want)
	}
}

func TestFilterEnvironment(t *testing.T) {
	p := func(f string) PipelineConfig {
		return PipelineConfig{Name: "p", From: "in", To: "out", Steps: []StepConfig{{Filter: f}}}
	}
	a := rec("dev-1", 5, `{"v":231,"key":"shadowed","time":"x"}`)
	a.Headers = []spool.Header{{Key: "site", Value: []byte("s1")}}
	b := rec("dev-2", 6, `{"v":229}`)
	c := rec("dev-3", 7, `{"w":1}`) // v missing
	d := rec("dev-4", 8, `raw bytes`)
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`v > 230`, []string{show(a)}},
		{`key == "dev-2"`, []string{show(b)}},
		{`value.key == "shadowed"`, []string{show(a)}},
		{`headers.site == "s1"`, []string{show(a)}},
		{`time.Unix() >= 7`, []string{show(c), show(d)}},
		{`(v ?? 0) < 230`, []string{show(b), show(c), show(d)}},
		{`len(value) == 0`, []string{show(d)}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			eq(t, chainOut(t, p(tc.expr), cloneInputs([]any{a})[0].(*Record), b, c, d), tc.want...)
		})
	}
	pl, _ := compile(p(`v > 230`))
	ch, _ := pl.newChain(func(*Record) {})
	for _, r := range []*Record{a, b, c, d} {
		_ = ch.process(r)
	}
	if f, e := pl.stats.filtered.Load(), pl.stats.exprErrors.Load(); f != 3 || e != 2 {
		t.Errorf("filtered %d, errors %d; want 3 (one false, two nil > 230), 2", f, e)
	}
}

func TestMap(t *testing.T) {
	p := PipelineConfig{Name: "p", From: "in", To: "out", Steps: []StepConfig{
		{Map: `merge(omit(value, "w"), {"kw": w / 1000, "dev": key, "bad": v / 0 - v / 0})`},
	}}
	r := rec("d", 1, `{"w":1500,"v":0,"x":"keep"}`)
	r.Headers = []spool.Header{{Key: "h", Value: []byte("1")}}
	out := chainOut(t, p, r)
	eq(t, out, `d@1 {"bad":null,"dev":"d","kw":1.5,"v":0,"x":"keep"}`)
	if len(r.Headers) != 1 {
		t.Error("headers not kept")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		step StepConfig
		want string
	}{
		{StepConfig{Filter: "v >"}, `pipeline "p" step 1 (filter): line 1, column 3: unexpected token EOF`},
		{StepConfig{Filter: "1 + 2"}, `pipeline "p" step 1 (filter): expected bool, but got int`},
		{StepConfig{Map: "\n  {\"a\": 1} +"}, `pipeline "p" step 1 (map): line 2`},
		{StepConfig{Map: `"text"`}, `pipeline "p" step 1 (map)`},
		{StepConfig{}, `pipeline "p" step 1: a step must set exactly one of filter, map, deadband, downsample, window`},
		{StepConfig{Filter: "true", Map: "{}"}, `exactly one of`},
		{StepConfig{Window: &WindowConfig{Size: time.Minute, Slide: 2 * time.Minute, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum"}}}}},
			`pipeline "p" step 1 (window): slide 2m0s must not be larger than size 1m0s`},
		{StepConfig{Window: &WindowConfig{Size: time.Minute, Slide: 25 * time.Second, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"sum"}}}}},
			`must be a multiple of slide`},
		{StepConfig{Window: &WindowConfig{Size: time.Minute, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"median"}}}}},
			`unknown function "median"`},
		{StepConfig{Downsample: &DownsampleConfig{Interval: time.Second, Mode: "max"}}, `mode must be one of: first, last, mean; got "max"`},
		{StepConfig{Deadband: &DeadbandConfig{Absolute: 1}}, `(deadband): fields: at least one field is required`},
	} {
		p := PipelineConfig{Name: "p", From: "in", To: "out", Steps: []StepConfig{{Filter: "true"}, tc.step}}
		_, err := New(Options{Spool: &spool.Spool{}, Pipelines: []PipelineConfig{p}})
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want a ConfigError containing %q", tc.step, err, tc.want)
		}
	}
	for _, p := range []PipelineConfig{
		{Name: "p", From: "a", To: "a", Steps: []StepConfig{{Filter: "true"}}},
		{Name: "bad name", From: "a", To: "b", Steps: []StepConfig{{Filter: "true"}}},
		{Name: "p", From: "a", To: "b"},
		{Name: "p", From: "a", To: "b", Late: "fix", Steps: []StepConfig{{Filter: "true"}}},
	} {
		if _, err := New(Options{Spool: &spool.Spool{}, Pipelines: []PipelineConfig{p}}); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

// The watermark moves with the records: lateness holds buckets open for
// out-of-order records, in whatever chunks the input is read.
func TestLatenessWatermark(t *testing.T) {
	p := PipelineConfig{Name: "p", From: "in", To: "out", AllowedLateness: 5 * time.Second, Steps: []StepConfig{
		{Filter: `v != 0`},
		{Downsample: &DownsampleConfig{Interval: 10 * time.Second, Mode: "mean", Fields: []string{"v"}}},
	}}
	eq(t, chainOut(t, p,
		rec("a", 1, `{"v":1}`),
		rec("b", 14, `{"v":1}`), // watermark 9
		rec("a", 9, `{"v":3}`),  // out of order, within the lateness
		rec("b", 15, `{"v":0}`), // filtered out, yet it moves the watermark to 10: a's bucket closes
		rec("b", 15, `{"v":5}`),
		rec("a", 2, `{"v":7}`),  // too late
		rec("b", 31, `{"v":1}`), // watermark 26: b's [10,20) closes
	),
		`a@9 {"v":2}`,
		`b@15 {"v":3}`,
	)
}
