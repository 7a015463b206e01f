package forwarder_test

import (
	"context"
	"testing"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
)

// Hubs over Kafka keep no state, yet each reports every site: the registry
// comes from the checkpoint topic. A hub started before the topic existed,
// and one started after the site's records were in, both list the site that
// a third hub served, with its epoch and its checkpoints at the edge's
// heads, and not connected to them.
func TestKafkaHubsListSitesFromKafka(t *testing.T) {
	ca := testcert.NewCA(t, "sites")
	kc := startKafka(t)
	early := startKafkaHub(t, ca, kc) // before any topic exists
	serving := startKafkaHub(t, ca, kc)
	e := openEdge(t, "plant-ks")
	e.produce(hubStream, keys, 200)
	e.forward(forwarder.Options{Addr: serving.addr, TLS: clientTLS(t, ca, "plant-ks")})
	e.acked(hubStream, 2)
	var total uint64
	for _, n := range wantAll(e) {
		total += uint64(n)
	}
	late := startKafkaHub(t, ca, kc)
	for name, h := range map[string]*hub{"early": early, "late": late} {
		var last *tributaryv1.ListSitesResponse
		waitFor(t, name+" hub to list the site caught up", patience, func() bool {
			r, err := h.srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
			if err != nil {
				t.Fatalf("%s hub: ListSites: %v", name, err)
			}
			last = r
			if len(r.GetSites()) != 1 {
				return false
			}
			var sum uint64
			for _, p := range r.GetSites()[0].GetPartitions() {
				sum += p.GetHubCheckpoint()
			}
			return sum == total
		})
		s := last.GetSites()[0]
		if s.GetSite() != "plant-ks" || s.GetEpoch() != e.sp.Epoch() || s.GetConnected() {
			t.Fatalf("%s hub lists %+v; want plant-ks, epoch %s, not connected to it", name, s, e.sp.Epoch())
		}
	}
}
