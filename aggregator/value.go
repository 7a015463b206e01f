package aggregator

import (
	"encoding/json"
	"math"
	"reflect"
	"time"
	"unicode/utf8"

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
	return movedNumber(a, b, abs, rel)
}

// movedNumber is moved for two numbers.
func movedNumber(a, b, abs, rel float64) bool {
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

// valueKind is what a fieldValue holds.
type valueKind uint8

const (
	absent  valueKind = iota // the field is missing
	numeric                  // num
	other                    // v, or raw until decoded
)

// fieldValue is a field's value as a step compares it: a number unboxed
// (as number converts it), anything else as Record.Fields holds it or,
// found by scanFields, as its raw JSON until needed (which spares an
// allocation per record when a string, bool or null did not change).
type fieldValue struct {
	kind valueKind
	num  float64
	v    any
	raw  []byte // other, from scanFields; nil once decoded into v
}

// mapValue is the field value v (ok: present) of a decoded map.
func mapValue(v any, ok bool) fieldValue {
	if !ok {
		return fieldValue{}
	}
	if f, isNum := number(v); isNum {
		return fieldValue{kind: numeric, num: f}
	}
	return fieldValue{kind: other, v: v}
}

// scannedValue is the field value scanFields found at sp in doc.
func scannedValue(doc []byte, sp span) fieldValue {
	if !sp.found {
		return fieldValue{}
	}
	if f, ok := spanNumber(doc, sp); ok {
		return fieldValue{kind: numeric, num: f}
	}
	return fieldValue{kind: other, raw: doc[sp.start:sp.end]}
}

// value is x as Record.Fields would hold it (nil when absent).
func (x fieldValue) value() any {
	switch {
	case x.kind == numeric:
		return x.num
	case x.raw != nil:
		return spanValue(x.raw, span{0, len(x.raw), true})
	}
	return x.v
}

// own is x decoded, holding no reference to the record it came from.
func (x fieldValue) own() fieldValue {
	if x.raw != nil {
		return fieldValue{kind: other, v: x.value()}
	}
	return x
}

// moved is moved(last.value(), now.value(), abs, rel) for a present now,
// with last absent counting as moved; it decodes now only when it has to.
func (last fieldValue) moved(now fieldValue, abs, rel float64) bool {
	switch {
	case last.kind == absent || last.kind != now.kind:
		return true
	case last.kind == numeric:
		return movedNumber(last.num, now.num, abs, rel)
	case now.raw == nil:
		return !reflect.DeepEqual(last.v, now.v)
	}
	switch raw := now.raw; raw[0] {
	case 't':
		return last.v != true
	case 'f':
		return last.v != false
	case 'n':
		return last.v != nil
	case '"':
		if s, ok := last.v.(string); ok && !hasByte(raw, '\\') && utf8.Valid(raw) {
			return s != string(raw[1:len(raw)-1])
		}
	}
	return !reflect.DeepEqual(last.v, now.value())
}
