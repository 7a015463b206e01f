package main

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// record is one telemetry reading: the spool record's key and value, and
// the MQTT topic the Mosquitto side publishes it on.
type record struct {
	device string
	topic  string
	value  []byte
	ts     time.Time
}

var metrics = []struct {
	name, unit string
	base, span float64
}{
	{"voltage", "V", 229, 4}, {"current", "A", 14, 6}, {"power", "W", 2900, 600}, {"frequency", "Hz", 49.9, 0.2},
}

// workload generates n readings of devices meters with a fixed seed, one a
// second per device from a fixed start: ~150-byte JSON documents such as
// {"device":"meter-0042","site":"plant-10","gw":"gw-05","fw":"4.2.10","metric":"voltage","v":232.10,"unit":"V","quality":"good","seq":0,"ts":1795946400042}.
func workload(n, devices int) []record {
	rng := rand.New(rand.NewPCG(42, 7))
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	out := make([]record, n)
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
		out[i] = record{device: dev, topic: "sensors/" + dev, value: v, ts: ts}
	}
	return out
}

// payloadStats are the value sizes of a workload.
func payloadStats(recs []record) (mean float64, lo, hi int) {
	lo = 1 << 30
	var sum int
	for _, r := range recs {
		n := len(r.value)
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	return float64(sum) / float64(len(recs)), lo, hi
}
