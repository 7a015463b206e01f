package aggregator

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// at is second s as an event time.
func at(s float64) time.Time { return time.Unix(0, int64(math.Round(s*1e9))).UTC() }

// rec is a record of key at second s with value v.
func rec(key string, s float64, v string) *Record {
	return &Record{Key: []byte(key), Value: []byte(v), Time: at(s)}
}

// advance, among a step's inputs, is a call of Advance.
type advance float64

// show is how the tests write an emitted record: "key@second value".
func show(r *Record) string {
	return fmt.Sprintf("%s@%g %s", r.Key, float64(r.Time.UnixNano())/1e9, r.Value)
}

// feed passes inputs (records and advances) to op and returns what it
// emitted. After every input it also round-trips op's state through a
// fresh instance made by mk, when mk is not nil, so that each test checks
// too that a restart anywhere changes nothing.
func feed(t *testing.T, op Operator, mk func() Operator, inputs ...any) []string {
	t.Helper()
	var out []string
	emit := func(r *Record) { out = append(out, show(r)) }
	for _, in := range inputs {
		var err error
		switch x := in.(type) {
		case *Record:
			err = op.Process(x, emit)
		case advance:
			err = op.Advance(at(float64(x)), emit)
		default:
			t.Fatalf("feed: %T", in)
		}
		if err != nil {
			t.Fatal(err)
		}
		if mk != nil {
			b, err := op.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			op = mk()
			if err := op.UnmarshalState(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// both runs feed without and with state round trips, checks they agree,
// and compares with want.
func both(t *testing.T, mk func() Operator, want []string, inputs ...any) {
	t.Helper()
	again := cloneInputs(inputs) // steps change the records they emit
	got := feed(t, mk(), nil, inputs...)
	if !slices.Equal(got, want) {
		t.Errorf("got\n\t%q\nwant\n\t%q", got, want)
	}
	if again := feed(t, mk(), mk, again...); !slices.Equal(again, got) {
		t.Errorf("with a state round trip after every input, got\n\t%q\nwithout\n\t%q", again, got)
	}
}

func cloneInputs(in []any) []any {
	out := make([]any, len(in))
	for i, x := range in {
		if r, ok := x.(*Record); ok {
			c := *r
			c.decoded, c.fields = false, nil
			if r.decoded && r.fields != nil && string(r.Value) == "" {
				c.decoded, c.fields = true, r.fields
			}
			x = &c
		}
		out[i] = x
	}
	return out
}
