package aggregator

import (
	"encoding/json"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// Record is what flows through a pipeline's steps: a record of the input
// stream, or one a step made. The value's JSON object is decoded once, on
// first use, and shared by every step after.
type Record struct {
	Key     []byte
	Value   []byte
	Time    time.Time // event time
	Headers []spool.Header

	decoded bool
	fields  map[string]any // nil when Value is not a JSON object
}

// NewRecord wraps a stored record.
func NewRecord(r spool.Record) *Record {
	return &Record{Key: r.Key, Value: r.Value, Time: r.Time, Headers: r.Headers}
}

// Fields returns the value's JSON object (numbers as float64), and false
// when the value is not one. The map belongs to the record: a step that
// changes it must set the value again with SetFields.
func (r *Record) Fields() (map[string]any, bool) {
	if !r.decoded {
		r.decoded = true
		var m map[string]any
		if json.Unmarshal(r.Value, &m) == nil {
			r.fields = m
		}
	}
	return r.fields, r.fields != nil
}

// SetFields replaces the value with fields, encoded as a JSON object.
func (r *Record) SetFields(fields map[string]any) error {
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	r.Value, r.fields, r.decoded = b, fields, true
	return nil
}

// Spool is the record as the spool stores it.
func (r *Record) Spool() spool.Record {
	return spool.Record{Key: r.Key, Value: r.Value, Time: r.Time, Headers: r.Headers}
}

// Operator is one step of a pipeline, over one input partition: the
// pipeline runs an instance of each step per partition of its input
// stream, so a step's output depends only on that partition's records, in
// offset order (which makes a restart, and an offline recomputation,
// give exactly the same output).
//
// A pipeline feeds each record to its first step; what a step emits goes
// to the next step, and what the last step emits is appended to the
// output stream. Every so often (after each chunk of input) the pipeline
// commits the output, the input cursor and every step's MarshalState in
// one spool transaction; after a crash it restores the states with
// UnmarshalState and reads on from the cursor.
type Operator interface {
	// Process takes one input record. emit passes a record on; it may be
	// called any number of times, and the record must not be used by the
	// step after.
	Process(r *Record, emit func(*Record)) error
	// Advance tells the step that event time has reached watermark: the
	// partition's largest event time seen so far, minus the pipeline's
	// allowed lateness. Windows that end at or before it close and are
	// emitted; a deadband heartbeat that is due is emitted. The pipeline
	// calls it right after each record that moves the watermark (so the
	// output does not depend on how the input was read in chunks), with a
	// watermark that never goes back; it must be cheap when nothing is due.
	Advance(watermark time.Time, emit func(*Record)) error
	// MarshalState returns the step's state (nil: none); UnmarshalState
	// restores it in a fresh instance. The encoding is the step's own and
	// must stay readable by later versions.
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
	// StateSize is about how many bytes the state holds (a metric).
	StateSize() int
}
