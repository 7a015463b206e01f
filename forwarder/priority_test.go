package forwarder_test

import (
	"testing"
	"time"

	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
)

// storedBytes is the stored batch bytes of a partition range of the edge.
func storedBytes(t *testing.T, e *edge, stream string, partitions int) int {
	t.Helper()
	total := 0
	for p := range partitions {
		start, next, err := e.sp.Offsets(stream, p)
		if err != nil {
			t.Fatal(err)
		}
		for off := start; off < next; {
			es, err := e.sp.Read(stream, p, off, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range es {
				total += len(en.Batch)
				off = en.NextOffset()
			}
		}
	}
	return total
}

// Alarms raised while a large telemetry backlog drains over a narrow link
// reach the hub long before the backlog does: the alarms stream has the
// higher priority, so all its batches go next, ahead of the bulk. (Taking
// turns would not do: each alarm batch would wait for a telemetry batch of
// every partition, and 40 alarm batches for most of the backlog.)
func TestAlarmOvertakesBacklog(t *testing.T) {
	const (
		backlog = 20000 // telemetry records stored while the hub was away
		drain   = 4     // seconds the budget lets the backlog take
		alarms  = 40    // alarm batches, stored one by one
	)
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	e := openEdge(t, "plant-01")
	e.produce(hubStream, keys, backlog/len(keys))
	size := storedBytes(t, e, hubStream, 2)
	budget := int64(size / drain)
	t.Logf("backlog: %d records, %d bytes stored; budget %d B/s", backlog, size, budget)

	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-01"), BytesPerSecond: budget})
	growth(t, h, 0, "the backlog to start draining", patience)
	time.Sleep(200 * time.Millisecond)
	raised := time.Now()
	before := h.count(hubStream)
	for range alarms {
		e.produce("alarms", []string{"breaker-3"}, 1)
	}
	var telemetry uint64
	waitFor(t, "the alarms at the hub", patience, func() bool {
		telemetry = h.count(hubStream)
		return h.count("alarms") == alarms
	})
	took := time.Since(raised)
	t.Logf("%d alarms arrived %s after the first was stored; meanwhile %d backlog records arrived, %d of %d in all",
		alarms, took.Round(time.Millisecond), telemetry-before, telemetry, backlog)
	if telemetry >= backlog/2 {
		t.Errorf("the alarms arrived after %d of %d backlog records; want them ahead of most of the backlog", telemetry, backlog)
	}

	waitFor(t, "the backlog at the hub", patience, func() bool { return h.count(hubStream) == backlog })
	exactlyOnce(t, h.records(hubStream), "plant-01", map[string]int{"meter-1": backlog / len(keys), "vib-9": backlog / len(keys)})
	exactlyOnce(t, h.records("alarms"), "plant-01", map[string]int{"breaker-3": alarms})
}
