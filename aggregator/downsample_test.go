package aggregator

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// Downsample's mean reads fields with scanFields from a record no earlier
// step decoded, and from the map of one that was: both give the same means.
func TestDownsampleMeanScannedMatchesDecoded(t *testing.T) {
	run := func(values []string, decode bool) []string {
		d := newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: DownsampleMean, Fields: []string{"v", "w"}}, &stepStats{})
		var out []string
		emit := func(r *Record) { out = append(out, show(r)) }
		for i, v := range values {
			r := rec("a", float64(i), v)
			if decode {
				r.Fields()
			}
			if err := d.Process(r, emit); err != nil {
				return append(out, err.Error())
			}
		}
		if err := d.Advance(at(100), emit); err != nil {
			return append(out, err.Error())
		}
		return out
	}
	for _, a := range deadbandValues {
		for _, b := range deadbandValues {
			values := []string{a, `{"v":0.25,"w":-3}`, b, `{"x":1}`}
			if scanned, decoded := run(values, false), run(values, true); !slices.Equal(scanned, decoded) {
				t.Errorf("%q: scanned %q, decoded %q", values, scanned, decoded)
			}
		}
	}
}

// The mean of values whose sum overflows a float64 is still their mean
// (it was +Inf, which JSON cannot hold: the bucket failed to emit).
func TestDownsampleMeanOfHugeValues(t *testing.T) {
	d := newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: DownsampleMean, Fields: []string{"v"}}, &stepStats{})
	var out []string
	emit := func(r *Record) { out = append(out, string(r.Value)) }
	for i, v := range []string{`{"v":1e308}`, `{"v":1e308}`, `{"v":1.6e308}`} {
		if err := d.Process(rec("a", float64(i), v), emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Advance(at(100), emit); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0] != `{"v":1.2e+308}` {
		t.Fatalf("got %q, want one bucket with v 1.2e+308", out)
	}
}

// A state saved by the first version (sums, not means) still restores.
func TestDownsampleRestoresVersion1State(t *testing.T) {
	d := newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: DownsampleMean, Fields: []string{"v"}}, &stepStats{})
	var out []string
	emit := func(r *Record) { out = append(out, string(r.Value)) }
	if err := d.Process(rec("a", 1, `{"v":3}`), emit); err != nil {
		t.Fatal(err)
	}
	st, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite it as version 1 would have: the sum of 3 and 5 over 2 records.
	v1 := strings.Replace(strings.Replace(string(st), `"version":2`, `"version":1`, 1), `"mean":`, `"sum":`, 1)
	v1 = strings.Replace(v1, fmt.Sprint(math.Float64bits(3)), fmt.Sprint(math.Float64bits(8)), 1)
	v1 = strings.Replace(v1, `"count":{"v":1}`, `"count":{"v":2}`, 1)
	fresh := newDownsample(DownsampleConfig{Interval: 10 * time.Second, Mode: DownsampleMean, Fields: []string{"v"}}, &stepStats{})
	if err := fresh.UnmarshalState([]byte(v1)); err != nil {
		t.Fatalf("%s: %v", v1, err)
	}
	if err := fresh.Advance(at(100), emit); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0] != `{"v":4}` {
		t.Fatalf("state %s gave %q, want one bucket with v 4", v1, out)
	}
}
