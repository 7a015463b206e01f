package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// The workload: telemetry readings from energy meters, as an edge node
// ingests them. A record's key is its device id (500 devices) and its value
// a JSON document of about 150 bytes.
const (
	devices    = 500
	partitions = 8
	streamName = "telemetry"
	poolSize   = 1 << 18 // records generated up front; a run cycles through them
)

// metric is one kind of reading, with a plausible range.
type metric struct {
	name, unit string
	base, span float64
	decimals   int
}

var metrics = []metric{
	{"active_power", "W", 200, 4800, 1},
	{"reactive_power", "var", -500, 1500, 1},
	{"voltage", "V", 225, 10, 2},
	{"current", "A", 0.5, 30, 3},
	{"frequency", "Hz", 49.95, 0.1, 3},
	{"energy_total", "kWh", 1000, 90000, 2},
	{"temperature", "C", 15, 40, 1},
	{"power_factor", "", 0.8, 0.2, 3},
}

var qualities = []string{"good", "good", "good", "good", "good", "good", "good", "uncertain"}

// baseTime is the first reading's timestamp.
var baseTime = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// workload is a fixed pool of records, generated once with a fixed seed so
// that every run and every system sees the same bytes. The keys and values
// live in one pointer-free arena, so the pool costs the garbage collector
// nothing to scan and does not disturb the latencies measured.
type workload struct {
	arena []byte
	ends  []uint32 // record i: key arena[ends[2i-1]:ends[2i]], value up to ends[2i+1]
	n     int
}

// newWorkload generates n records.
func newWorkload(n int) *workload {
	rng := rand.New(rand.NewPCG(2026, 1129))
	w := &workload{n: n, ends: make([]uint32, 0, 2*n), arena: make([]byte, 0, n*176)}
	for i := range n {
		r := makeRecord(rng, i)
		w.arena = append(w.arena, r.Key...)
		w.ends = append(w.ends, uint32(len(w.arena)))
		w.arena = append(w.arena, r.Value...)
		w.ends = append(w.ends, uint32(len(w.arena)))
	}
	return w
}

// record returns pool record i.
func (w *workload) record(i int) spool.Record {
	start := uint32(0)
	if i > 0 {
		start = w.ends[2*i-1]
	}
	k, v := w.ends[2*i], w.ends[2*i+1]
	return spool.Record{Key: w.arena[start:k:k], Value: w.arena[k:v:v], Time: recordTime(i)}
}

// recordTime is reading i's timestamp: 10 ms apart.
func recordTime(i int) time.Time { return baseTime.Add(time.Duration(i) * 10 * time.Millisecond) }

// makeRecord builds the i-th reading: round-robin over devices, a metric
// per device and step, 10 ms between readings.
func makeRecord(rng *rand.Rand, i int) spool.Record {
	dev := i % devices
	m := metrics[(dev+i/devices)%len(metrics)]
	ts := recordTime(i)
	v := m.base + m.span*rng.Float64()
	key := fmt.Appendf(nil, "meter-%04d", dev)
	val := make([]byte, 0, 176)
	val = fmt.Appendf(val, `{"site":"plant-%02d","device":"%s","metric":"%s","value":`, dev%12, key, m.name)
	val = strconv.AppendFloat(val, v, 'f', m.decimals, 64)
	val = fmt.Appendf(val, `,"unit":"%s","quality":"%s","seq":%d,"ts":"`, m.unit, qualities[rng.IntN(len(qualities))], i)
	val = ts.AppendFormat(val, "2006-01-02T15:04:05.000Z")
	val = append(val, `"}`...)
	return spool.Record{Key: key, Value: val, Time: ts}
}

// at returns the i-th record, cycling through the pool.
func (w *workload) at(i uint64) spool.Record { return w.record(int(i % uint64(w.n))) }

// meanPayload is the mean key + value size of a record, in bytes.
func (w *workload) meanPayload() float64 { return float64(len(w.arena)) / float64(w.n) }

// sizeOf is the key and value bytes of the first n records of the cycle.
func (w *workload) sizeOf(n uint64) (keys, values int64) {
	pool := uint64(w.n)
	for i := range min(n, pool) {
		r := w.record(int(i))
		times := int64(n / pool)
		if i < n%pool {
			times++
		}
		keys += times * int64(len(r.Key))
		values += times * int64(len(r.Value))
	}
	return keys, values
}

// streamConfig is the benchmark's stream: 8 partitions, zstd (the default),
// and a budget large enough that retention never runs. A 32-bit spool holds
// at most 1.5 GiB in all.
func streamConfig() spool.StreamConfig {
	maxBytes := int64(8 << 30)
	if strconv.IntSize == 32 {
		maxBytes = 1 << 30
	}
	return spool.StreamConfig{Name: streamName, Partitions: partitions, MaxBytes: maxBytes}
}
