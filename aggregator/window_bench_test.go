package aggregator

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkWindowTumblingByKey is bench/aggbench's case (b) without the
// spool: a 1-minute tumbling mean/min/max/count grouped by device, 10,000
// devices, ~150-byte JSON values, one record per device every 10 s.
func BenchmarkWindowTumblingByKey(b *testing.B) {
	const devices = 10000
	values := make([][]byte, devices)
	keys := make([][]byte, devices)
	for i := range devices {
		keys[i] = fmt.Appendf(nil, "meter-%05d", i)
		values[i] = fmt.Appendf(nil, `{"site":"plant-%02d","device":"meter-%05d","metric":"voltage","value":%.2f,"unit":"V","quality":"good","seq":%d,"ts":"2026-11-29T10:00:00.420Z"}`, i%20, i, 229+float64(i%300)/100, i)
	}
	op, err := newWindow(WindowConfig{Size: time.Minute, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{
		{Field: "value", Functions: []string{"mean", "min", "max", "count"}},
	}}, PipelineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	emitted := 0
	emit := func(*Record) { emitted++ }
	step := 10 * time.Second / devices
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := Record{Key: keys[i%devices], Value: values[i%devices], Time: t0.Add(time.Duration(i) * step)}
		if err := op.Process(&r, emit); err != nil {
			b.Fatal(err)
		}
		i++
		if i%devices == 0 {
			op.Advance(r.Time, emit) //nolint:errcheck // never fails
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
