package main

import (
	"math"
	"time"

	"github.com/tributary-io/tributary/aggregator"
)

// deadband is a minimal deadband step written for this bench, because the
// pipeline's own deadband step is not in this tree yet: per key, a record
// passes when its field differs from the last value passed by at least
// band (the first always passes); other records are dropped. It reads the
// field with Record.Fields, as a step that decodes the value does. No
// heartbeat, and no state encoding: it is here to measure the cost of a
// step of this kind, not to be used.
type deadband struct {
	field string
	band  float64
	last  map[string]float64
}

func newDeadband(field string, band float64) *deadband {
	return &deadband{field: field, band: band, last: map[string]float64{}}
}

func (d *deadband) Process(r *aggregator.Record, emit func(*aggregator.Record)) error {
	fields, ok := r.Fields()
	if !ok {
		return nil
	}
	v, ok := fields[d.field].(float64)
	if !ok {
		return nil
	}
	if last, seen := d.last[string(r.Key)]; seen && math.Abs(v-last) < d.band {
		return nil
	}
	d.last[string(r.Key)] = v
	emit(r)
	return nil
}

func (d *deadband) Advance(time.Time, func(*aggregator.Record)) error { return nil }
func (d *deadband) MarshalState() ([]byte, error)                     { return nil, nil }
func (d *deadband) UnmarshalState([]byte) error                       { return nil }
func (d *deadband) StateSize() int                                    { return 32 * len(d.last) }
