package aggregator

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// downsample keeps at most one record per key per interval bucket
// (buckets aligned to the Unix epoch). first emits a bucket's first record
// at once; last and mean hold the bucket open and emit when it closes: a
// record of a later bucket arrives for the key, or the watermark passes
// the bucket's end. A record for a bucket before the key's current one, or
// for a bucket already closed, is late: dropped and counted.
type downsample struct {
	cfg   DownsampleConfig
	stats *stepStats
	keys  map[string]*downsampleKey
	// nextEnd is the earliest end of an open bucket (0: none open).
	nextEnd int64
	spans   []span // mean: scratch for scanFields
}

type downsampleKey struct {
	bucket int64 // start (Unix ns) of the key's latest bucket
	open   bool  // last/mean: bucket not emitted yet
	last   *Record
	mean   map[string]float64 // mean: the running mean per field (a sum could overflow)
	count  map[string]int
}

func newDownsample(cfg DownsampleConfig, stats *stepStats) *downsample {
	return &downsample{cfg: cfg, stats: stats, keys: map[string]*downsampleKey{}, spans: make([]span, len(cfg.Fields))}
}

// bucketOf is the start of t's bucket, in Unix ns.
func (d *downsample) bucketOf(t time.Time) int64 {
	ns, iv := t.UnixNano(), int64(d.cfg.Interval)
	m := ns % iv
	if m < 0 {
		m += iv
	}
	return ns - m
}

func (d *downsample) Process(r *Record, emit func(*Record)) error {
	b := d.bucketOf(r.Time)
	k := d.keys[string(r.Key)]
	if k != nil {
		switch {
		case b < k.bucket, b == k.bucket && d.cfg.Mode != DownsampleFirst && !k.open:
			d.stats.late.Add(1)
			return nil
		case b == k.bucket && d.cfg.Mode == DownsampleFirst:
			return nil // downsampled away
		case b == k.bucket:
			d.add(k, r)
			return nil
		}
		if k.open {
			if err := d.close(k, emit); err != nil {
				return err
			}
		}
	} else {
		k = &downsampleKey{}
		d.keys[string(r.Key)] = k
	}
	k.bucket = b
	if d.cfg.Mode == DownsampleFirst {
		emit(r)
		return nil
	}
	k.open, k.last, k.mean, k.count = true, nil, nil, nil
	d.add(k, r)
	if end := b + int64(d.cfg.Interval); d.nextEnd == 0 || end < d.nextEnd {
		d.nextEnd = end
	}
	return nil
}

// add puts r in the key's open bucket.
func (d *downsample) add(k *downsampleKey, r *Record) {
	k.last = r
	if d.cfg.Mode != DownsampleMean {
		return
	}
	if k.mean == nil {
		k.mean, k.count = map[string]float64{}, map[string]int{}
	}
	// Only the bucket's last record is decoded (by close): the others'
	// fields are scanned from the raw JSON, unless an earlier step decoded
	// them already (see window_fields.go).
	switch {
	case r.decoded:
		for _, f := range d.cfg.Fields {
			if v, ok := number(r.fields[f]); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				k.addMean(f, v)
			}
		}
	case scanFields(r.Value, d.cfg.Fields, d.spans):
		for i, f := range d.cfg.Fields {
			if v, ok := spanNumber(r.Value, d.spans[i]); ok { // always finite
				k.addMean(f, v)
			}
		}
	}
}

// addMean adds v to field f's running mean. mean − mean/n + v/n stays
// finite for finite values, where a sum of two 1e308 would not.
func (k *downsampleKey) addMean(f string, v float64) {
	k.count[f]++
	n := float64(k.count[f])
	m := k.mean[f]
	k.mean[f] = m - m/n + v/n
}

// close emits the key's open bucket: its last record, with the mean of
// each field that had numbers in place of the field.
func (d *downsample) close(k *downsampleKey, emit func(*Record)) error {
	r, mean, count := k.last, k.mean, k.count
	k.open, k.last, k.mean, k.count = false, nil, nil, nil
	if d.cfg.Mode == DownsampleMean {
		fields, _ := r.Fields()
		out := make(map[string]any, len(fields)+len(d.cfg.Fields))
		for f, v := range fields {
			out[f] = v
		}
		for _, f := range d.cfg.Fields {
			if count[f] > 0 {
				out[f] = mean[f]
			}
		}
		if err := r.SetFields(out); err != nil {
			return fmt.Errorf("downsample: %w", err)
		}
	}
	emit(r)
	return nil
}

// Advance closes, in key order, the open buckets that end at or before the
// watermark.
func (d *downsample) Advance(wm time.Time, emit func(*Record)) error {
	w := wm.UnixNano()
	if d.nextEnd == 0 || w < d.nextEnd {
		return nil
	}
	d.nextEnd = 0
	var due []string
	for key, k := range d.keys {
		if !k.open {
			continue
		}
		if end := k.bucket + int64(d.cfg.Interval); end <= w {
			due = append(due, key)
		} else if d.nextEnd == 0 || end < d.nextEnd {
			d.nextEnd = end
		}
	}
	slices.Sort(due)
	for _, key := range due {
		if err := d.close(d.keys[key], emit); err != nil {
			return err
		}
	}
	return nil
}

type downsampleState struct {
	Version int                           `json:"version"`
	NextEnd int64                         `json:"next_end,omitempty"`
	Keys    map[string]downsampleKeyState `json:"keys"`
}

type downsampleKeyState struct {
	Bucket int64             `json:"bucket"`
	Open   bool              `json:"open,omitempty"`
	Last   *storedRecord     `json:"last,omitempty"`
	Sum    map[string]uint64 `json:"sum,omitempty"`  // version 1: the sum, float64 bits
	Mean   map[string]uint64 `json:"mean,omitempty"` // version 2: the running mean, float64 bits
	Count  map[string]int    `json:"count,omitempty"`
}

func (d *downsample) MarshalState() ([]byte, error) {
	s := downsampleState{Version: 2, NextEnd: d.nextEnd, Keys: make(map[string]downsampleKeyState, len(d.keys))}
	for key, k := range d.keys {
		ks := downsampleKeyState{Bucket: k.bucket, Open: k.open, Last: storeRecord(k.last), Count: k.count}
		if k.mean != nil {
			ks.Mean = make(map[string]uint64, len(k.mean))
			for f, v := range k.mean {
				ks.Mean[f] = math.Float64bits(v)
			}
		}
		s.Keys[key] = ks
	}
	return json.Marshal(s)
}

func (d *downsample) UnmarshalState(b []byte) error {
	var s downsampleState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("downsample state: %w", err)
	}
	if s.Version != 1 && s.Version != 2 {
		return fmt.Errorf("downsample state: version %d unknown", s.Version)
	}
	d.nextEnd = s.NextEnd
	d.keys = make(map[string]*downsampleKey, len(s.Keys))
	for key, ks := range s.Keys {
		k := &downsampleKey{bucket: ks.Bucket, open: ks.Open, last: ks.Last.record(), count: ks.Count}
		switch {
		case ks.Mean != nil:
			k.mean = make(map[string]float64, len(ks.Mean))
			for f, v := range ks.Mean {
				k.mean[f] = math.Float64frombits(v)
			}
		case ks.Sum != nil: // version 1 kept sums
			k.mean = make(map[string]float64, len(ks.Sum))
			for f, v := range ks.Sum {
				if n := ks.Count[f]; n > 0 {
					k.mean[f] = math.Float64frombits(v) / float64(n)
				}
			}
		}
		d.keys[key] = k
	}
	return nil
}

func (d *downsample) StateSize() int {
	n := 0
	for key, k := range d.keys {
		n += len(key) + 24 + 24*len(k.mean)
		if k.last != nil {
			n += len(k.last.Key) + len(k.last.Value) + 16
		}
	}
	return n
}
