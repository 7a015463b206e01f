package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/spool"
)

// After every run the destination is read back in full: a drain counts
// only if the sink holds every record of the workload exactly once.

// checkCheckpoints checks that the hub's checkpoints of the site's
// partitions add up to the workload.
func (r *report) checkCheckpoints(srv *cluster.Server) error {
	ls, err := srv.ListSites(context.Background(), &tributaryv1.ListSitesRequest{})
	if err != nil {
		return err
	}
	var sum uint64
	for _, s := range ls.GetSites() {
		for _, p := range s.GetPartitions() {
			sum += p.GetHubCheckpoint()
		}
	}
	if sum != uint64(r.cfg.records) {
		return fmt.Errorf("the hub's checkpoints add up to %d, the edge stored %d", sum, r.cfg.records)
	}
	return nil
}

// verifySpool reads every record of the hub's stream.
func (r *report) verifySpool(sp *spool.Spool) (string, error) {
	var got fingerprint
	for p := range stream.Partitions {
		start, next, err := sp.Offsets(stream.Name, p)
		if err != nil {
			return "", err
		}
		for off := start; off < next; {
			es, err := sp.Read(stream.Name, p, off, 1<<20)
			if err != nil {
				return "", err
			}
			for _, e := range es {
				recs, err := e.Records()
				if err != nil {
					return "", err
				}
				for _, rec := range recs[off-e.Offset():] {
					if h := header(rec.Headers, cluster.HeaderSite); h != site {
						return "", fmt.Errorf("hub spool partition %d: a record with site header %q", p, h)
					}
					got.add(rec.Key, rec.Value, rec.Time)
				}
				off = e.NextOffset()
			}
		}
	}
	if got != r.want {
		return "", fmt.Errorf("the hub spool holds %d records (digest %x), the edge stored %d (digest %x)", got.Records, got.Sum, r.want.Records, r.want.Sum)
	}
	return fmt.Sprintf("hub spool: %d records, digest equal", got.Records), nil
}

func header(hs []spool.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func kheader(hs []kgo.RecordHeader, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// verifyKafka reads the topic and the checkpoint topic at read_committed:
// the topic must hold the workload, each edge position once; the last
// checkpoint of each edge partition must add up to the workload.
func (r *report) verifyKafka(brokers []string) (string, error) {
	const ckptTopic = "tributary-checkpoints"
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(stream.Name, ckptTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	var got fingerprint
	seen := make([][]bool, stream.Partitions) // by edge partition, edge offset
	for p := range seen {
		seen[p] = make([]bool, r.cfg.records)
	}
	ckpts := map[string]uint64{}
	var bad error
	polled := 0 // records of both topics
	deadline := time.Now().Add(2 * time.Minute)
	for done := false; !done; {
		// Once every record is in, one more short poll must bring none.
		wait := time.Second
		if got.Records >= r.cfg.records {
			wait = 300 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		before := polled
		fs.EachRecord(func(rec *kgo.Record) {
			polled++
			if rec.Topic == ckptTopic {
				if k := string(rec.Key); strings.HasPrefix(k, site+"/ckpt/") && len(rec.Value) == 8 {
					ckpts[k] = binary.BigEndian.Uint64(rec.Value)
				}
				return
			}
			got.add(rec.Key, rec.Value, rec.Timestamp)
			p, err1 := strconv.Atoi(kheader(rec.Headers, cluster.HeaderPartition))
			off, err2 := strconv.ParseUint(kheader(rec.Headers, cluster.HeaderOffset), 10, 64)
			switch {
			case err1 != nil || err2 != nil || p < 0 || p >= len(seen) || off >= uint64(r.cfg.records) || kheader(rec.Headers, cluster.HeaderSite) != site:
				bad = fmt.Errorf("kafka partition %d offset %d: bad tributary headers %v", rec.Partition, rec.Offset, rec.Headers)
			case seen[p][off]:
				bad = fmt.Errorf("edge partition %d offset %d is in Kafka twice", p, off)
			default:
				seen[p][off] = true
			}
		})
		if bad != nil {
			return "", bad
		}
		switch {
		case polled > before:
			// more came: poll again
		case got.Records >= r.cfg.records:
			done = true // all in, and the last poll brought nothing more
		case time.Now().After(deadline):
			return "", fmt.Errorf("kafka topic %s: %d records after 2 minutes, want %d", stream.Name, got.Records, r.cfg.records)
		}
	}
	if got != r.want {
		return "", fmt.Errorf("kafka holds %d records (digest %x), the edge stored %d (digest %x)", got.Records, got.Sum, r.want.Records, r.want.Sum)
	}
	var sum uint64
	for _, v := range ckpts {
		sum += v
	}
	if sum != uint64(r.cfg.records) || len(ckpts) != stream.Partitions {
		return "", fmt.Errorf("kafka's checkpoint topic: %d checkpoints adding up to %d, want %d adding up to %d", len(ckpts), sum, stream.Partitions, r.cfg.records)
	}
	return fmt.Sprintf("kafka at read_committed: %d records, each edge position once, digest equal; %d checkpoints add up to %d", got.Records, len(ckpts), sum), nil
}
