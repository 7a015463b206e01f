package replwork

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// Stream is the edge's stream (and a hub's stream or Kafka topic of the
// same name): 8 partitions, as configs/edge.yaml has, and a budget it never
// reaches.
var Stream = spool.StreamConfig{Name: "telemetry", Partitions: 8, MaxBytes: 64 << 30}

var metrics = []struct {
	name, unit string
	base, span float64
}{
	{"voltage", "V", 229, 4}, {"current", "A", 14, 6}, {"power", "W", 2900, 600}, {"frequency", "Hz", 49.9, 0.2},
}

// Workload generates n readings of devices meters with a fixed seed, one a
// second per device from a fixed start: ~150-byte JSON documents such as
// {"device":"meter-0042","site":"plant-10","gw":"gw-05","fw":"4.2.10","metric":"voltage","v":232.10,"unit":"V","quality":"good","seq":0,"ts":1795946400042},
// keyed by the device id.
func Workload(n, devices int) []spool.Record {
	rng := rand.New(rand.NewPCG(42, 7))
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	out := make([]spool.Record, n)
	for i := range out {
		d := i % devices
		m := metrics[(i/devices)%len(metrics)]
		ts := start.Add(time.Duration(i/devices)*time.Second + time.Duration(d)*time.Millisecond)
		dev := fmt.Sprintf("meter-%04d", d)
		q := "good"
		if rng.IntN(100) == 0 {
			q = "suspect"
		}
		v := fmt.Appendf(nil, `{"device":"%s","site":"plant-%02d","gw":"gw-%02d","fw":"4.2.%d","metric":"%s","v":%.2f,"unit":"%s","quality":"%s","seq":%d,"ts":%d}`,
			dev, d%16, d%37, 10+d%7, m.name, m.base+rng.Float64()*m.span, m.unit, q, i/devices, ts.UnixMilli())
		out[i] = spool.Record{Key: []byte(dev), Value: v, Time: ts}
	}
	return out
}

// payloadStats are the value sizes of a workload.
func payloadStats(recs []spool.Record) (mean float64, lo, hi int) {
	lo = 1 << 30
	var sum int
	for _, r := range recs {
		n := len(r.Value)
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	return float64(sum) / float64(len(recs)), lo, hi
}
