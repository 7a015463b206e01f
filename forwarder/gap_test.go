package forwarder_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/spool"
)

// When drop_oldest had to drop records the hub never got, the edge sends
// the gap; the hub records it, moves its checkpoint past it, counts it for
// the site, and stores what follows exactly once.
func TestDroppedRecordsReachTheHubAsAGap(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	e := openEdge(t, "plant-02")
	small := spool.StreamConfig{Name: "vibration", Partitions: 1, MaxBytes: 256 << 10, Full: spool.DropOldest}
	if err := e.sp.EnsureStream(small); err != nil {
		t.Fatal(err)
	}
	if err := h.sp.EnsureStream(spool.StreamConfig{Name: "vibration", Partitions: 1, MaxBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	// The forwarder's cursors protect from the start, but drop_oldest on a
	// full stream drops past them, leaving a gap.
	e.forward(forwarder.Options{Addr: "127.0.0.1:1", MaxBackoff: time.Hour, Streams: []string{"vibration"}})
	e.halt()
	var total uint64
	for i := 0; i < 64; i++ { // 64 × 16 KiB of random bytes: four times the budget
		v := make([]byte, 16<<10)
		if _, err := rand.Read(v); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sp.Append(context.Background(), "vibration", spool.Record{Key: []byte("motor-1"), Value: v, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		total++
	}
	es, err := e.sp.Read("vibration", 0, 0, 1)
	if err != nil || len(es) == 0 || es[0].Gap == nil {
		t.Fatalf("the edge's first entry is %+v, %v; want a gap", es, err)
	}
	dropped := es[0].Gap.Count()
	e.forward(forwarder.Options{Addr: h.addr, TLS: clientTLS(t, ca, "plant-02"), Streams: []string{"vibration"}})
	waitFor(t, "the hub's checkpoint at the edge's head", patience, func() bool {
		r, err := h.srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
		if err != nil || len(r.GetSites()) != 1 {
			return false
		}
		s := r.GetSites()[0]
		for _, p := range s.GetPartitions() {
			if p.GetStream() == "vibration" && p.GetHubCheckpoint() == total {
				return s.GetGapRecords() > 0
			}
		}
		return false
	})
	r, _ := h.srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
	gaps := r.GetSites()[0].GetGapRecords()
	// The checkpoint is state, which a reader may see a moment before the
	// records of its commit are published to readers (after the fsync).
	waitFor(t, "the records readable at the hub", patience, func() bool { return h.count("vibration")+gaps >= total })
	recs := h.records("vibration")[0]
	if uint64(len(recs))+gaps != total {
		t.Fatalf("hub: %d records and %d in gaps, want %d in all", len(recs), gaps, total)
	}
	if gaps < dropped {
		t.Fatalf("hub counts %d lost records; the edge dropped %d before the first send", gaps, dropped)
	}
}
