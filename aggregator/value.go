package aggregator

import (
	"encoding/json"
	"math"
	"reflect"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// storedValue is a field value in a step's state: a number by its bits (so
// NaN survives), anything else as JSON.
type storedValue struct {
	Bits *uint64         `json:"f,omitempty"`
	JSON json.RawMessage `json:"j,omitempty"`
}

func storeValue(v any) storedValue {
	if f, ok := v.(float64); ok {
		b := math.Float64bits(f)
		return storedValue{Bits: &b}
	}
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("null")
	}
	return storedValue{JSON: j}
}

func (s storedValue) value() any {
	if s.Bits != nil {
		return math.Float64frombits(*s.Bits)
	}
	var v any
	_ = json.Unmarshal(s.JSON, &v)
	return v
}

// storedRecord is a record kept in a step's state.
type storedRecord struct {
	Key     []byte         `json:"k,omitempty"`
	Value   []byte         `json:"v,omitempty"`
	Time    int64          `json:"t"`
	Headers []spool.Header `json:"h,omitempty"`
}

func storeRecord(r *Record) *storedRecord {
	if r == nil {
		return nil
	}
	return &storedRecord{Key: r.Key, Value: r.Value, Time: r.Time.UnixNano(), Headers: r.Headers}
}

func (s *storedRecord) record() *Record {
	if s == nil {
		return nil
	}
	return &Record{Key: s.Key, Value: s.Value, Time: time.Unix(0, s.Time).UTC(), Headers: s.Headers}
}

// number returns v as a float64 if it is a number (JSON numbers decode as
// float64; expressions may make ints).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// moved reports whether a field moved from last to now by more than the
// thresholds: numbers by |now−last| > abs or > rel×|last| (any change when
// both are 0); NaN equals only NaN and ±Inf only itself; other values
// (strings, booleans, null, objects) move when they differ.
func moved(last, now any, abs, rel float64) bool {
	a, aNum := number(last)
	b, bNum := number(now)
	if !aNum || !bNum {
		if aNum != bNum {
			return true
		}
		return !reflect.DeepEqual(last, now)
	}
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return math.IsNaN(a) != math.IsNaN(b)
	case a == b:
		return false
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return true
	}
	d := math.Abs(b - a)
	if abs == 0 && rel == 0 {
		return true
	}
	return (abs > 0 && d > abs) || (rel > 0 && d > rel*math.Abs(a))
}
