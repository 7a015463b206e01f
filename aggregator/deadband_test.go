package aggregator

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// NewDeadband validates its configuration as the pipeline's loader does.
func TestNewDeadbandValidates(t *testing.T) {
	if _, err := NewDeadband(DeadbandConfig{Absolute: 1}); err == nil || !strings.Contains(err.Error(), "at least one field") {
		t.Errorf("no fields: %v, want an error naming fields", err)
	}
	op, err := NewDeadband(DeadbandConfig{Fields: []string{"v"}, Absolute: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range []string{`{"v":1}`, `{"v":1.5}`, `{"v":2.5}`} {
		if err := op.Process(rec("a", 0, v), func(r *Record) { out = append(out, string(r.Value)) }); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(out, " ") != `{"v":1} {"v":2.5}` {
		t.Errorf("emitted %q", out)
	}
}

// deadbandOracle is the deadband without heartbeat as its doc states it,
// on decoded maps: the reference the step's two ways of reading fields are
// held to.
func deadbandOracle(cfg DeadbandConfig, recs []*Record) []string {
	last := map[string]map[string]any{}
	var out []string
	for _, r := range recs {
		fields, _ := r.Fields()
		l, seen := last[string(r.Key)]
		emit := !seen
		for _, f := range cfg.Fields {
			now, ok := fields[f]
			if was, had := l[f]; ok && seen && (!had || moved(was, now, cfg.Absolute, cfg.Relative)) {
				emit = true
			}
		}
		if !emit {
			continue
		}
		if !seen {
			l = map[string]any{}
			last[string(r.Key)] = l
		}
		for _, f := range cfg.Fields {
			if v, ok := fields[f]; ok {
				l[f] = v
			}
		}
		out = append(out, show(r))
	}
	return out
}

// checkDeadbandReadings runs values (key "a", then "b" for the second
// half) through the deadband twice, reading fields with scanFields and
// from maps an earlier step decoded, and through the oracle: all three
// must emit the same records.
func checkDeadbandReadings(t *testing.T, cfg DeadbandConfig, values []string) {
	t.Helper()
	mkRecs := func(decode bool) []*Record {
		var recs []*Record
		for i, v := range values {
			r := rec(string(rune('a'+2*i/len(values))), float64(i), v)
			if decode {
				r.Fields()
			}
			recs = append(recs, r)
		}
		return recs
	}
	run := func(recs []*Record) []string {
		d := newDeadband(cfg, &stepStats{})
		var out []string
		for _, r := range recs {
			if err := d.Process(r, func(r *Record) { out = append(out, show(r)) }); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	scanned, decoded, want := run(mkRecs(false)), run(mkRecs(true)), deadbandOracle(cfg, mkRecs(false))
	if !slices.Equal(scanned, want) || !slices.Equal(decoded, want) {
		t.Errorf("%+v over %q:\nscanned %q\ndecoded %q\noracle  %q", cfg, values, scanned, decoded, want)
	}
}

var deadbandValues = []string{
	`{"v":1}`, `{"v":1.0}`, `{"v":10e-1}`, `{"v":1.4}`, `{"v":-0}`, `{"v":0}`, `{"v":1e308}`, `{"v":-1e308}`,
	`{"v":"on"}`, `{"v":"on","w":1}`, `{"v":"o\u006e"}`, `{"v":"é"}`, `{"v":"\u00e9"}`, `{"v":"\xff"}`, `{"v":"\ufffd"}`,
	`{"v":true}`, `{"v":false}`, `{"v":null}`, `{"v":"true"}`, `{"v":"null"}`, `{"v":"1"}`,
	`{"v":[1,2]}`, `{"v":[1,2.0]}`, `{"v":{"a":1}}`, `{"v":{"a":1.0}}`, `{"v":{}}`, `{"v":[]}`,
	`{"w":2}`, `{"w":"x"}`, `{}`, `not json`, `[1]`, `null`, `{"v":1,"v":"dup"}`, `{"v":1e400}`, `{"\u0076":5}`,
}

func TestDeadbandScannedMatchesDecoded(t *testing.T) {
	for _, cfg := range []DeadbandConfig{
		{Fields: []string{"v"}},
		{Fields: []string{"v", "w"}, Absolute: 0.5},
		{Fields: []string{"w", "v"}, Relative: 0.1},
		{Fields: []string{"v", "v"}, Absolute: 1e308},
	} {
		checkDeadbandReadings(t, cfg, deadbandValues)
		rev := slices.Clone(deadbandValues)
		slices.Reverse(rev)
		checkDeadbandReadings(t, cfg, rev)
		for i := range deadbandValues { // every value after every other
			for j := range deadbandValues {
				checkDeadbandReadings(t, cfg, []string{deadbandValues[i], deadbandValues[j], deadbandValues[i]})
			}
		}
	}
}

func FuzzDeadbandScannedMatchesDecoded(f *testing.F) {
	for i, v := range deadbandValues {
		f.Add(v, deadbandValues[(i+7)%len(deadbandValues)], deadbandValues[(i+13)%len(deadbandValues)], 0.5)
	}
	f.Fuzz(func(t *testing.T, a, b, c string, abs float64) {
		if !(abs >= 0) || math.IsInf(abs, 0) {
			abs = 0
		}
		checkDeadbandReadings(t, DeadbandConfig{Fields: []string{"v", "w"}, Absolute: abs}, []string{a, b, c, a, c, b})
	})
}
