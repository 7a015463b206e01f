package forwarder_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/spool"
)

// sentBytes reads the forwarder's tributary_forwarder_sent_bytes_total.
func sentBytes(t *testing.T, g prometheus.Gatherer) float64 {
	t.Helper()
	return metric(t, g, "tributary_forwarder_sent_bytes_total")
}

// metric reads the value of an unlabelled counter or gauge.
func metric(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A backlog drains at the configured byte budget: over a few seconds the
// batch bytes sent are within 10% of BytesPerSecond.
//
// The upper bound is the token bucket's: over a span S it lets through at
// most budget·S plus its burst (a tenth of a second of budget). The lower
// bound holds because at 200 KB/s nothing but the bucket holds the sender
// back: a batch of about 8 KiB is due every 40 ms, while loopback and the
// hub's commit take a few milliseconds, so acks return long before the
// window (32 batches) could fill. What the metric misses is small: the 64
// bytes per batch the budget charges for framing (under 1%), and at most
// one batch at each end of the span (1% of it).
func TestBandwidthBudget(t *testing.T) {
	const (
		budget  = 200_000 // bytes per second
		recSize = 1 << 10
		perAppd = 8 // records per stored batch: about 8 KiB
		warmup  = time.Second
		span    = 4 * time.Second
	)
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	e := openEdge(t, "plant-01")
	// Random values: zstd cannot shrink them, so the bytes on the wire are
	// the bytes stored; the backlog outlasts warmup and span.
	n := int(float64(budget)*(warmup+span+2*time.Second).Seconds()) / recSize
	for i := 0; i < n; i += perAppd {
		recs := make([]spool.Record, perAppd)
		for j := range recs {
			v := make([]byte, recSize)
			_, _ = rand.Read(v)
			recs[j] = spool.Record{Key: []byte("cam-1"), Value: v, Time: time.Now()}
		}
		if _, err := e.sp.Append(context.Background(), hubStream, recs...); err != nil {
			t.Fatal(err)
		}
	}
	stored := storedBytes(t, e, hubStream, 2)
	if stored < n*recSize {
		t.Fatalf("the backlog was compressed to %d bytes from %d; the test needs incompressible values", stored, n*recSize)
	}

	reg := prometheus.NewRegistry()
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-01"), BytesPerSecond: budget, Registerer: reg})
	growth(t, h, 0, "the backlog to start draining", patience)
	time.Sleep(warmup) // past the bucket's initial burst
	b0, t0 := sentBytes(t, reg), time.Now()
	time.Sleep(span)
	b1, t1 := sentBytes(t, reg), time.Now()
	rate := (b1 - b0) / t1.Sub(t0).Seconds()
	t.Logf("sent %.0f bytes in %s: %.0f B/s, budget %d B/s (%.1f%%)", b1-b0, t1.Sub(t0).Round(time.Millisecond), rate, budget, 100*rate/budget)
	if rate < 0.9*budget || rate > 1.1*budget {
		t.Errorf("sent %.0f B/s, want within 10%% of the budget %d B/s", rate, budget)
	}
	if h.count(hubStream) >= uint64(n) {
		t.Errorf("the backlog drained before the span ended; the rate measured is not the budget's")
	}
}
