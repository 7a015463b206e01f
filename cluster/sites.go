package cluster

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// ListSites reports every site the hub has seen. Lag is the edge's head, as
// its last heartbeat reported it, minus the hub's durable checkpoint: what
// the hub has not stored, not whether a connection is up. The age of the
// oldest record not at the hub is the heartbeat's, taken at headsTime; a
// disconnected site's figures are as of its last heartbeat.
func (s *Server) ListSites(context.Context, *tributaryv1.ListSitesRequest) (*tributaryv1.ListSitesResponse, error) {
	type snap struct {
		name      string
		rec       siteRecord
		connected bool
		last      time.Time
		headsTime time.Time
		heads     map[partKey]*tributaryv1.PartitionHead
	}
	if ls, ok := s.sink.(interface{ liveSites() map[string]siteRecord }); ok {
		s.mergeSites(ls.liveSites())
	}
	s.mu.Lock()
	snaps := make([]snap, 0, len(s.sites))
	for name, st := range s.sites {
		heads := make(map[partKey]*tributaryv1.PartitionHead, len(st.heads))
		for k, v := range st.heads {
			heads[k] = v
		}
		snaps = append(snaps, snap{name, st.rec, st.session != nil, st.lastContact, st.headsTime, heads})
	}
	s.mu.Unlock()
	slices.SortFunc(snaps, func(a, b snap) int { return strings.Compare(a.name, b.name) })

	out := &tributaryv1.ListSitesResponse{}
	for _, sn := range snaps {
		site := &tributaryv1.Site{
			Site: sn.name, Epoch: sn.rec.Epoch, Version: sn.rec.Version, Connected: sn.connected,
			GapRecords: sn.rec.GapRecords,
		}
		if !sn.last.IsZero() {
			site.LastContact = timestamppb.New(sn.last)
		}
		if !sn.headsTime.IsZero() {
			site.HeadsTime = timestamppb.New(sn.headsTime)
		}
		for _, o := range sn.rec.Streams {
			for p := range o.Partitions {
				ckpt, err := s.sink.checkpoint(sn.name, sn.rec.Epoch, o.Stream, p)
				if err != nil {
					return nil, status.Errorf(codes.Internal, "site %s: %v", sn.name, err)
				}
				sp := &tributaryv1.SitePartition{Stream: o.Stream, Partition: p, HubCheckpoint: ckpt}
				if h := sn.heads[partKey{o.Stream, p}]; h != nil {
					sp.EdgeHead = h.GetHead()
					if h.GetHead() > ckpt {
						sp.LagRecords = h.GetHead() - ckpt
						sp.LagBytes = h.GetBacklogBytes()
						if t := h.GetOldestUnacked(); t != nil {
							sp.OldestUnackedSeconds = max(0, sn.headsTime.Sub(t.AsTime()).Seconds())
						}
					}
				}
				site.Partitions = append(site.Partitions, sp)
			}
		}
		out.Sites = append(out.Sites, site)
	}
	return out, nil
}

// mergeSites takes site records the store holds into the registry: sites
// another hub serves (or served), and their newer records. A site with a
// session on this hub keeps the record this hub holds, which is newer.
func (s *Server) mergeSites(recs map[string]siteRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, rec := range recs {
		st := s.sites[name]
		if st == nil {
			s.sites[name] = &siteState{heads: map[partKey]*tributaryv1.PartitionHead{}, rec: rec}
			continue
		}
		if st.session == nil {
			rec.GapRecords = max(rec.GapRecords, st.rec.GapRecords)
			st.rec = rec
		}
	}
}
