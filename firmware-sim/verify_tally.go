package firmwaresim

import (
	"slices"
	"sync"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// tally accumulates what Verify reads. Pages of different partitions come
// from several goroutines; each partition's pages come in offset order.
type tally struct {
	ledger *Ledger
	o      VerifyOptions

	mu      sync.Mutex
	streams []string // in the order first read
	devices map[string]*deviceTally
	parts   map[streamPart]*partTally
	// Records read, by kind.
	counted, foreign, otherSite, unlabelled uint64
}

type streamPart struct {
	stream    string
	partition int32
}

// partTally is where the reading of one partition stands.
type partTally struct {
	next    uint64 // the next offset to read
	started bool
	gaps    []GapNote
	expired []ExpiredNote
}

// deviceTally is what was seen of one device: the sequence numbers as
// ranges, duplicates as ranges and counts, and the last sequence number in
// each stream partition the device appeared in.
type deviceTally struct {
	seen          ranges
	dupSeqs       ranges // seen more than once, not marked resent
	dupCopies     uint64 // the copies beyond the first of those
	resentCopies  uint64 // the copies beyond the first of seqs marked resent
	outOfOrder    uint64
	resentLate    uint64 // resent seqs that came after higher ones
	firstDisorder *OutOfOrder
	last          map[streamPart]uint64
}

func newTally(l *Ledger, o VerifyOptions) *tally {
	return &tally{ledger: l, o: o, devices: map[string]*deviceTally{}, parts: map[streamPart]*partTally{}}
}

// stream notes that stream is read.
func (t *tally) stream(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.streams, name) {
		t.streams = append(t.streams, name)
	}
}

// position is where the next read of a partition starts, and whether it
// was read before.
func (t *tally) position(stream string, partition int32) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.parts[streamPart{stream, partition}]; p != nil {
		return p.next, p.started
	}
	return 0, false
}

// addPage takes one Read answer; from is the request's from_offset (nil on
// a partition's first read, which starts at its oldest held offset).
func (t *tally) addPage(stream string, partition int32, from *uint64, resp *tributaryv1.ReadResponse, page []parsed) {
	var expired []ExpiredNote
	switch first := resp.GetFirstOffset(); {
	case from == nil && first > 0:
		expired = append(expired, ExpiredNote{stream, partition, 0, first})
	case from != nil && resp.GetFromOffsetExpired() && first > *from:
		expired = append(expired, ExpiredNote{stream, partition, *from, first})
	}
	var gaps []GapNote
	for _, g := range resp.GetGaps() {
		gaps = append(gaps, GapNote{Stream: stream, Partition: partition, From: g.GetFromOffset(), To: g.GetToOffset(),
			Count: g.GetCount(), Reason: g.GetReason()})
	}
	t.add(streamPart{stream, partition}, page, resp.GetNextOffset(), expired, gaps)
}

// add takes what one read of partition k found, in offset order: its
// records, the offset to read next, and the ranges of offsets it could not
// read (deleted by retention, or dropped).
func (t *tally) add(k streamPart, page []parsed, next uint64, expired []ExpiredNote, gaps []GapNote) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[k]
	if p == nil {
		p = &partTally{}
		t.parts[k] = p
	}
	p.expired = append(p.expired, expired...)
	p.gaps = append(p.gaps, gaps...)
	for _, r := range page {
		switch r.kind {
		case kindOtherSite:
			t.otherSite++
		case kindUnlabelled:
			t.unlabelled++
		case kindForeign:
			t.foreign++
		case kindCounted:
			t.counted++
			t.record(k, r)
		}
	}
	p.next, p.started = next, true
}

// record counts one simulator message found at k.
func (t *tally) record(k streamPart, r parsed) {
	d := t.devices[r.device]
	if d == nil {
		d = &deviceTally{last: map[streamPart]uint64{}}
		t.devices[r.device] = d
	}
	if d.seen.contains(r.seq) {
		// A copy. MQTT QoS 1 is at-least-once: a message the device sent
		// again may be stored twice, and that is explained. Any other
		// copy was made by the pipeline.
		if t.ledger.IsResent(r.device, r.seq) {
			d.resentCopies++
		} else {
			d.dupSeqs.add(r.seq)
			d.dupCopies++
		}
		return
	}
	d.seen.add(r.seq)
	if prev, ok := d.last[k]; ok && r.seq < prev {
		// A message sent again after a reconnect may come after later
		// ones; the ledger explains that too. Nothing else may.
		if t.ledger.IsResent(r.device, r.seq) {
			d.resentLate++
		} else {
			d.outOfOrder++
			if d.firstDisorder == nil {
				d.firstDisorder = &OutOfOrder{Stream: k.stream, Partition: k.partition, Offset: r.offset, Seq: r.seq, After: prev}
			}
		}
	}
	d.last[k] = r.seq
}

// complete says whether every acknowledged message has been seen.
func (t *tally) complete() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, dev := range t.ledger.Devices() {
		var seen []Range
		if d := t.devices[dev]; d != nil {
			seen = d.seen.rs
		}
		if len(subtract(t.ledger.Acked(dev), seen)) > 0 {
			return false
		}
	}
	return true
}

// subtract returns the ranges of a not in b; both sorted and disjoint.
func subtract(a, b []Range) []Range {
	var out []Range
	j := 0
	for _, r := range a {
		cur, done := r.First, false
		for j < len(b) && b[j].Last < cur {
			j++
		}
		for k := j; k < len(b) && b[k].First <= r.Last; k++ {
			if b[k].First > cur {
				out = append(out, Range{cur, b[k].First - 1})
			}
			if b[k].Last >= r.Last {
				done = true
				break
			}
			cur = b[k].Last + 1 // <= r.Last: no overflow
		}
		if !done {
			out = append(out, Range{cur, r.Last})
		}
	}
	return out
}

func countOf(rs []Range) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.Last - r.First + 1
	}
	return n
}
