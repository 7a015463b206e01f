package aggregator

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// stream is a made-up partition: 20 devices, out-of-order times, some late
// records and gaps, values with missing and non-numeric fields.
func stream(n int) []*Record {
	rng := rand.New(rand.NewPCG(7, 8))
	var out []*Record
	now := t0
	for i := range n {
		now = now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
		if i%500 == 499 {
			now = now.Add(3 * time.Minute) // a gap: empty windows
		}
		t := now.Add(-time.Duration(rng.IntN(20)) * time.Second) // out of order
		if rng.IntN(50) == 0 {
			t = t.Add(-90 * time.Second) // late
		}
		v := fmt.Sprintf(`{"site":"s%d","v":%v,"w":%d}`, rng.IntN(3), rng.NormFloat64()*50, rng.IntN(100))
		if rng.IntN(20) == 0 {
			v = `{"site":"s1","v":"n/a"}`
		}
		out = append(out, wrec(fmt.Sprintf("m-%02d", rng.IntN(20)), t, v))
	}
	return out
}

// runChunks feeds records in chunks of 97 with Advance after each, as the
// pipeline does; with restore, every chunk ends with a state round trip
// into a fresh step. It returns every output record, rendered.
func runChunks(t *testing.T, cfg WindowConfig, p PipelineConfig, recs []*Record, restore bool) (string, uint64) {
	t.Helper()
	h := newHarness(t, cfg, p)
	var maxT time.Time
	for i := 0; i < len(recs); i += 97 {
		for _, r := range recs[i:min(i+97, len(recs))] {
			r2 := wrec(string(r.Key), r.Time, string(r.Value)) // a fresh decode each run
			h.process(r2)
			if r.Time.After(maxT) {
				maxT = r.Time
			}
		}
		h.advance(maxT.Add(-p.AllowedLateness))
		if !restore {
			continue
		}
		st, err := h.op.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		st2, _ := h.op.MarshalState()
		if !bytes.Equal(st, st2) {
			t.Fatalf("two MarshalStates of one state differ")
		}
		fresh := newHarness(t, cfg, p)
		if err := fresh.op.UnmarshalState(st); err != nil {
			t.Fatalf("UnmarshalState: %v", err)
		}
		fresh.out = h.out
		h = fresh
	}
	var b bytes.Buffer
	for _, r := range h.out {
		fmt.Fprintf(&b, "%s|%d|%s|%s=%s\n", r.Key, r.Time.UnixNano(), r.Value, r.Headers[0].Key, r.Headers[0].Value)
	}
	return b.String(), h.op.Late()
}

var stateCases = map[string]struct {
	cfg WindowConfig
	p   PipelineConfig
}{
	"tumbling by key, drop": {
		WindowConfig{Size: time.Minute, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{allFuncs("v"), {Field: "w", Functions: []string{"sum", "last"}}}},
		PipelineConfig{AllowedLateness: 10 * time.Second},
	},
	"hopping by site and key, correct": {
		WindowConfig{Size: time.Minute, Slide: 20 * time.Second, GroupBy: []string{"site", "key"}, Aggregates: []AggregateConfig{allFuncs("v")}},
		PipelineConfig{AllowedLateness: 30 * time.Second, Late: "correct"},
	},
}

func TestWindowStateRoundTripGivesIdenticalOutput(t *testing.T) {
	recs := stream(5000)
	for name, c := range stateCases {
		t.Run(name, func(t *testing.T) {
			straight, late := runChunks(t, c.cfg, c.p, recs, false)
			again, _ := runChunks(t, c.cfg, c.p, recs, false)
			restored, late2 := runChunks(t, c.cfg, c.p, recs, true)
			if straight != again {
				t.Fatalf("two runs over the same input differ")
			}
			if straight != restored {
				t.Fatalf("output with a state round trip after every chunk differs from the straight run")
			}
			if late != late2 || late == 0 {
				t.Errorf("late %d and %d: want equal and > 0", late, late2)
			}
			if len(straight) < 1000 {
				t.Errorf("only %d bytes of output", len(straight))
			}
		})
	}
}

func TestWindowStateRefusesDamageAndOtherConfigs(t *testing.T) {
	c := stateCases["hopping by site and key, correct"]
	h := newHarness(t, c.cfg, c.p)
	for _, r := range stream(300) {
		h.process(r)
	}
	h.advance(t0.Add(time.Minute))
	st, _ := h.op.MarshalState()
	if h.op.StateSize() < 1000 {
		t.Errorf("StateSize %d: want about the state held", h.op.StateSize())
	}
	for n := 0; n < len(st); n += 1 + len(st)/500 {
		fresh := newHarness(t, c.cfg, c.p)
		if err := fresh.op.UnmarshalState(st[:n]); n > 0 && err == nil {
			t.Fatalf("state truncated to %d of %d bytes: no error", n, len(st))
		}
		if fresh.op.StateSize() != 64 && n > 0 {
			t.Fatalf("a refused state left %d bytes in the step", fresh.op.StateSize())
		}
	}
	fresh := newHarness(t, c.cfg, c.p)
	if err := fresh.op.UnmarshalState(append(st, 0)); !errors.Is(err, errWindowState) {
		t.Errorf("trailing byte: %v", err)
	}
	other := c.cfg
	other.Size = 2 * time.Minute
	if err := newHarness(t, other, c.p).op.UnmarshalState(st); err == nil {
		t.Errorf("a state of another configuration was accepted")
	}
}

func FuzzWindowUnmarshalState(f *testing.F) {
	c := stateCases["hopping by site and key, correct"]
	h := newHarness(&testing.T{}, c.cfg, c.p)
	for _, r := range stream(200) {
		h.op.Process(r, h.emit) //nolint:errcheck // never fails
	}
	st, _ := h.op.MarshalState()
	f.Add(st)
	f.Fuzz(func(t *testing.T, b []byte) {
		op, _ := newWindow(c.cfg, c.p)
		if err := op.UnmarshalState(b); err != nil {
			return
		}
		// Invariant: a state that reads back encodes to what reads back the same.
		b2, err := op.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		op2, _ := newWindow(c.cfg, c.p)
		if err := op2.UnmarshalState(b2); err != nil {
			t.Fatalf("re-encoded state refused: %v", err)
		}
		b3, _ := op2.MarshalState()
		if !bytes.Equal(b2, b3) {
			t.Fatalf("state not stable through a round trip")
		}
	})
}
