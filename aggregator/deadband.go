package aggregator

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// deadband reports by exception: per key, a record is emitted when one of
// the watched fields moved past a threshold since the value last emitted,
// or when the heartbeat is due. Its state is, per key, the last emitted
// values, the time of the last emission, and the latest record held back
// since (which a heartbeat emits).
type deadband struct {
	cfg   DeadbandConfig
	stats *stepStats
	keys  map[string]*deadbandKey
	// nextDue is the earliest time a held-back record's heartbeat is due
	// (zero: none pending), so Advance scans only when one is.
	nextDue time.Time
	// cur and spans are scratch for the record at hand: its watched
	// fields' values, and where scanFields found them.
	cur   []fieldValue
	spans []span
}

type deadbandKey struct {
	last     []fieldValue // per watched field, the value last emitted (absent: none yet)
	lastEmit time.Time
	pending  *Record // latest record held back since the last emission
}

var _ Operator = (*deadband)(nil)

// NewDeadband makes a deadband step, for programs that drive one outside a
// pipeline (bench/aggbench, tools); the runtime makes its steps from the
// configuration. It returns the error the configuration's validation would.
// See deadband for the semantics.
func NewDeadband(cfg DeadbandConfig) (Operator, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("deadband: %w", err)
	}
	cfg.Fields = slices.Clone(cfg.Fields)
	return newDeadband(cfg, &stepStats{}), nil
}

func newDeadband(cfg DeadbandConfig, stats *stepStats) *deadband {
	n := len(cfg.Fields)
	return &deadband{cfg: cfg, stats: stats, keys: map[string]*deadbandKey{}, cur: make([]fieldValue, n), spans: make([]span, n)}
}

func (d *deadband) Process(r *Record, emit func(*Record)) error {
	d.read(r)
	k := d.keys[string(r.Key)]
	if k == nil {
		k = &deadbandKey{last: make([]fieldValue, len(d.cfg.Fields))}
		d.keys[string(r.Key)] = k
		d.emit(k, r, emit)
		return nil
	}
	due := d.cfg.Heartbeat > 0 && r.Time.Sub(k.lastEmit) >= d.cfg.Heartbeat
	if due || d.moved(k) {
		d.emit(k, r, emit)
		return nil
	}
	k.pending = r
	if d.cfg.Heartbeat > 0 {
		if at := k.lastEmit.Add(d.cfg.Heartbeat); d.nextDue.IsZero() || at.Before(d.nextDue) {
			d.nextDue = at
		}
	}
	return nil
}

// read sets d.cur to r's watched fields: from the map if an earlier step
// decoded the value, else scanned from the raw JSON, which finds the same
// values without decoding the rest (see window_fields.go). A value that is
// not a JSON object has every field absent either way.
func (d *deadband) read(r *Record) {
	switch {
	case r.decoded:
		for i, f := range d.cfg.Fields {
			v, ok := r.fields[f]
			d.cur[i] = mapValue(v, ok)
		}
	case scanFields(r.Value, d.cfg.Fields, d.spans):
		for i, sp := range d.spans {
			d.cur[i] = scannedValue(r.Value, sp)
		}
	default:
		clear(d.cur)
	}
}

// moved reports whether any watched field present in the record at hand
// moved; a field the record lacks is not compared, and one never emitted
// before counts as moved.
func (d *deadband) moved(k *deadbandKey) bool {
	for i, now := range d.cur {
		if now.kind != absent && k.last[i].moved(now, d.cfg.Absolute, d.cfg.Relative) {
			return true
		}
	}
	return false
}

// emit emits the record at hand (read into d.cur) and remembers its values.
func (d *deadband) emit(k *deadbandKey, r *Record, emit func(*Record)) {
	for i, now := range d.cur {
		if now.kind != absent {
			k.last[i] = now.own()
		}
	}
	if r.Time.After(k.lastEmit) {
		k.lastEmit = r.Time
	}
	k.pending = nil
	emit(r)
}

// Advance emits, in key order, the held-back records whose heartbeat the
// watermark reached.
func (d *deadband) Advance(wm time.Time, emit func(*Record)) error {
	if d.nextDue.IsZero() || wm.Before(d.nextDue) {
		return nil
	}
	var due []string
	d.nextDue = time.Time{}
	for key, k := range d.keys {
		if k.pending == nil {
			continue
		}
		at := k.lastEmit.Add(d.cfg.Heartbeat)
		if !wm.Before(at) {
			due = append(due, key)
		} else if d.nextDue.IsZero() || at.Before(d.nextDue) {
			d.nextDue = at
		}
	}
	slices.Sort(due)
	for _, key := range due {
		k := d.keys[key]
		d.read(k.pending)
		d.emit(k, k.pending, emit)
	}
	return nil
}

type deadbandState struct {
	Version int                         `json:"version"`
	NextDue int64                       `json:"next_due,omitempty"`
	Keys    map[string]deadbandKeyState `json:"keys"`
}

type deadbandKeyState struct {
	Last     map[string]storedValue `json:"last"`
	LastEmit int64                  `json:"last_emit"`
	Pending  *storedRecord          `json:"pending,omitempty"`
}

func (d *deadband) MarshalState() ([]byte, error) {
	s := deadbandState{Version: 1, Keys: make(map[string]deadbandKeyState, len(d.keys))}
	if !d.nextDue.IsZero() {
		s.NextDue = d.nextDue.UnixNano()
	}
	for key, k := range d.keys {
		ks := deadbandKeyState{Last: map[string]storedValue{}, LastEmit: k.lastEmit.UnixNano(), Pending: storeRecord(k.pending)}
		for i, f := range d.cfg.Fields {
			if v := k.last[i]; v.kind != absent {
				ks.Last[f] = storeValue(v.value())
			}
		}
		s.Keys[key] = ks
	}
	return json.Marshal(s)
}

func (d *deadband) UnmarshalState(b []byte) error {
	var s deadbandState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("deadband state: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("deadband state: version %d unknown", s.Version)
	}
	d.keys = make(map[string]*deadbandKey, len(s.Keys))
	d.nextDue = time.Time{}
	if s.NextDue != 0 {
		d.nextDue = time.Unix(0, s.NextDue).UTC()
	}
	for key, ks := range s.Keys {
		k := &deadbandKey{last: make([]fieldValue, len(d.cfg.Fields)), lastEmit: time.Unix(0, ks.LastEmit).UTC(), pending: ks.Pending.record()}
		for i, f := range d.cfg.Fields {
			if v, ok := ks.Last[f]; ok {
				k.last[i] = mapValue(v.value(), true)
			}
		}
		d.keys[key] = k
	}
	return nil
}

func (d *deadband) StateSize() int {
	n := 0
	for key, k := range d.keys {
		n += len(key) + 64 + 56*len(k.last)
		if k.pending != nil {
			n += len(k.pending.Key) + len(k.pending.Value) + 16
		}
	}
	return n
}
