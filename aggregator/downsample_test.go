package aggregator

import (
	"slices"
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
			if err := d.Process(r, emit); err != nil { // 1e308 twice: a mean of +Inf
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
