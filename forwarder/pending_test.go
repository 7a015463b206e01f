package forwarder_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
)

// While Kafka stalls, two sites share the hub's MaxPendingBytes: together
// they make it hold no more, though either alone would take more (its own
// budget, PipelineBytes, is larger than half). A site whose session ends
// during the stall gives its bytes back once its queued commits fail, so
// the budget does not leak: after the stall both sites land exactly once
// and the hub holds nothing.
func TestHubPendingBytesSharedAndReturned(t *testing.T) {
	const (
		maxTxn  = 64 << 10
		perSite = 4 * maxTxn
		hubMax  = 6 * maxTxn // less than two sites' budgets
	)
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	reg := prometheus.NewRegistry()
	h := &hub{t: t, ca: ca, done: make(chan struct{})}
	h.opts = cluster.Options{Kafka: kafkaHubOptions(kc.ListenAddrs()), MaxTxnBytes: maxTxn, PipelineBytes: perSite,
		MaxPendingBytes: hubMax, Pipeline: 1 << 12, Registerer: reg}
	h.opts.Kafka.Timeout = 20 * time.Second // the stall must not end the sessions
	h.serve("")

	a, b := openEdge(t, "plant-pa"), openEdge(t, "plant-pb")
	for _, e := range []*edge{a, b} { // sessions open (a transaction each) before Kafka stalls
		e.produce(hubStream, keys, 10)
		e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, e.site)})
		e.acked(hubStream, 2)
	}
	base := acked(a, hubStream, 2) + acked(b, hubStream, 2)
	_, release := stallKafka(t, kc)
	for _, e := range []*edge{a, b} {
		e.produce(hubStream, keys, 1000) // about 1 MiB each: more than the hub's whole budget
	}
	var peak float64
	waitFor(t, "the hub's budget to fill", patience, func() bool {
		peak = max(peak, metric(t, reg, "tributary_hub_pending_bytes"))
		return peak > hubMax-maxTxn
	})
	for range 20 { // a while longer: it stays within the budget
		time.Sleep(25 * time.Millisecond)
		peak = max(peak, metric(t, reg, "tributary_hub_pending_bytes"))
	}
	if peak > hubMax {
		t.Fatalf("the hub held %.0f bytes pending, more than MaxPendingBytes %d", peak, hubMax)
	}
	if n := acked(a, hubStream, 2) + acked(b, hubStream, 2); n != base {
		t.Fatalf("%d records acked while Kafka stalled", n-base)
	}

	a.halt() // its session ends with writes queued, holding part of the budget
	release()
	b.acked(hubStream, 2)
	a.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, a.site)})
	a.acked(hubStream, 2)
	waitFor(t, "the hub to hold nothing pending", patience, func() bool { return metric(t, reg, "tributary_hub_pending_bytes") == 0 })
	for _, e := range []*edge{a, b} {
		var n int
		for _, c := range wantAll(e) {
			n += c
		}
		var mine []*kgo.Record
		for _, r := range kafkaRecords(t, kc, hubStream, 10000) {
			if kheader(r, cluster.HeaderSite) == e.site {
				mine = append(mine, r)
			}
		}
		if len(mine) != n {
			t.Fatalf("kafka holds %d records of %s, want %d", len(mine), e.site, n)
		}
		kafkaExactlyOnce(t, mine, e.site, wantAll(e))
	}
}
