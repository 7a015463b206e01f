package aggregator

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDeadbandByKey is bench/aggbench's deadband case without the
// spool: 10,000 devices, ~150-byte JSON values, one record per device every
// 10 s, the watched value a random walk (σ 0.4 V) against a 0.5 V band, so
// about a quarter of the records are emitted.
func BenchmarkDeadbandByKey(b *testing.B) {
	const devices, rounds = 10000, 16
	rng := rand.New(rand.NewPCG(2026, 1129))
	volts := make([]float64, devices)
	keys := make([][]byte, devices)
	values := make([][]byte, devices*rounds)
	for i := range values {
		d := i % devices
		if i < devices {
			keys[d] = fmt.Appendf(nil, "meter-%05d", d)
			volts[d] = 225 + rng.Float64()*10
		}
		volts[d] += rng.NormFloat64() * 0.4
		values[i] = fmt.Appendf(nil, `{"site":"plant-%02d","device":"meter-%05d","metric":"voltage","value":%.2f,"unit":"V","quality":"good","seq":%d,"ts":"2026-11-29T10:00:00.420Z"}`, d%20, d, volts[d], i/devices)
	}
	op := newDeadband(DeadbandConfig{Fields: []string{"value"}, Absolute: 0.5}, &stepStats{})
	emitted := 0
	emit := func(*Record) { emitted++ }
	step := 10 * time.Second / devices
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := Record{Key: keys[i%devices], Value: values[i%len(values)], Time: t0.Add(time.Duration(i) * step)}
		if err := op.Process(&r, emit); err != nil {
			b.Fatal(err)
		}
		i++
		if i%devices == 0 {
			op.Advance(r.Time, emit) //nolint:errcheck // never fails
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(emitted)/float64(b.N), "emitted/record")
}
