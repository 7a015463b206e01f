package aggregator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the value the sketch's guarantee refers to: rank
// ⌊q·(n−1)⌋ of the sorted values.
func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func withinAccuracy(got, want float64) bool {
	return math.Abs(got-want) <= SketchRelativeAccuracy*math.Abs(want)+1e-300
}

func randomValues(rng *rand.Rand, n int, kind string) []float64 {
	vs := make([]float64, n)
	for i := range vs {
		switch kind {
		case "lognormal":
			vs[i] = math.Exp(rng.NormFloat64() * 2)
		case "normal around 0":
			vs[i] = rng.NormFloat64() * 100
		case "uniform with zeros":
			vs[i] = float64(rng.IntN(1000)) - 100
		}
	}
	return vs
}

func TestSketchQuantilesWithinStatedError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []string{"lognormal", "normal around 0", "uniform with zeros"} {
		for _, n := range []int{1, 2, 7, 100, 10000} {
			vs := randomValues(rng, n, kind)
			s := newQuantileSketch()
			for _, v := range vs {
				if !s.add(v) {
					t.Fatalf("add(%v) refused", v)
				}
			}
			sorted := slices.Sorted(slices.Values(vs))
			for _, q := range []float64{0.5, 0.95, 0.99} {
				got, ok := s.quantile(q)
				if want := exactQuantile(sorted, q); !ok || !withinAccuracy(got, want) {
					t.Errorf("%s n=%d p%v: got %v, exact %v (±1%%)", kind, n, q*100, got, want)
				}
			}
		}
	}
}

func TestSketchMergeAndEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b, all := newQuantileSketch(), newQuantileSketch(), randomValues(rng, 5000, "lognormal")
	for i, v := range all {
		if i%3 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	enc := b.appendTo(nil)
	if string(enc) != string(b.appendTo(nil)) {
		t.Fatalf("two encodings of one sketch differ")
	}
	b2, rest, err := decodeQuantileSketch(enc)
	if err != nil || len(rest) != 0 {
		t.Fatal(err)
	}
	if err := a.merge(b2); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Sorted(slices.Values(all))
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if got, _ := a.quantile(q); !withinAccuracy(got, exactQuantile(sorted, q)) {
			t.Errorf("merged p%v = %v, exact %v", q*100, got, exactQuantile(sorted, q))
		}
	}
	if _, ok := newQuantileSketch().quantile(0.5); ok {
		t.Errorf("an empty sketch has no quantile")
	}
	for _, bad := range [][]byte{{}, {0, 1, 0x80}, {0, 1, 0xfe, 0xff, 0x7f, 1}, {0, 1, 2, 0}} {
		if _, _, err := decodeQuantileSketch(bad); err == nil {
			t.Errorf("decoding %x: no error", bad)
		}
	}
	if newQuantileSketch().add(math.NaN()) {
		t.Errorf("NaN was accepted")
	}
}

func TestWindowQuantilesAgainstExact(t *testing.T) {
	cfg := WindowConfig{Size: time.Minute, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{{Field: "v", Functions: []string{"p50", "p95", "p99", "min", "max"}}}}
	h := newHarness(t, cfg, PipelineConfig{})
	rng := rand.New(rand.NewPCG(5, 6))
	vs := randomValues(rng, 3000, "normal around 0")
	for i, v := range vs {
		h.process(wrec("k", wat(time.Duration(i)*time.Millisecond*10), fmt.Sprintf(`{"v":%v}`, v)))
	}
	h.advance(wat(time.Minute))
	r := decode(t, h.take()[0])
	sorted := slices.Sorted(slices.Values(vs))
	for q, fn := range map[float64]string{0.5: "p50", 0.95: "p95", 0.99: "p99"} {
		if got, want := r.num(t, "v", fn), exactQuantile(sorted, q); !withinAccuracy(got, want) {
			t.Errorf("%s = %v, exact %v", fn, got, want)
		}
	}
}
