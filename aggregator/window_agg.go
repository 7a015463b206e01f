package aggregator

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// pane is one window's state: its groups.
type pane struct {
	start  int64
	groups map[string]*group // by internal group key
	bytes  int               // about what the groups hold, for StateSize
}

// group is one group's aggregates in one window.
type group struct {
	gkey     string // internal key: the record key (GroupBy ["key"]) or the group object
	key      []byte // output record key
	gjson    []byte // the "group" object
	count    uint64
	revision uint64 // corrections emitted so far
	fields   []fieldAgg
}

// groupOverhead is about what a group costs besides its keys and sketches.
const groupOverhead = 160

// fieldAgg is one field's aggregates in one group of one window.
type fieldAgg struct {
	n                    uint64
	sum, min, max        float64
	mean, m2             float64 // Welford
	first, last          float64
	firstT, lastT        int64
	sketch               quantileSketch // nil s unless a quantile is asked for
	sketchBytesEstimated int
}

// add counts the record the window's extract step read into w.
func (p *pane) add(w *windowOp, r *Record, t int64) *group {
	var g *group
	if w.byKey {
		g = p.groups[string(r.Key)]
	} else {
		g = p.groups[string(w.gbuf)]
	}
	if g == nil {
		g = w.newGroup(r)
		p.groups[g.gkey] = g
		p.bytes += groupOverhead + len(g.gkey) + len(g.key) + len(g.gjson) + 80*len(g.fields)
	}
	g.count++
	for i := range g.fields {
		if w.valOK[i] {
			p.bytes += g.fields[i].add(&w.aggs[i], w.vals[i], t)
		}
	}
	return g
}

func (w *windowOp) newGroup(r *Record) *group {
	g := &group{fields: make([]fieldAgg, len(w.aggs))}
	if w.byKey {
		g.gkey = string(r.Key)
		g.key = []byte(g.gkey)
		g.gjson = appendJSONString(append([]byte(nil), `{"key":`...), g.gkey)
		g.gjson = append(g.gjson, '}')
	} else {
		g.gkey = string(w.gbuf)
		g.key = slices.Clone(w.kbuf)
		g.gjson = []byte(g.gkey)
	}
	for i, a := range w.aggs {
		if a.sketch {
			g.fields[i].sketch = newQuantileSketch()
		}
	}
	return g
}

// add counts v at event time t, keeping what the spec's functions need; it
// returns about how many bytes of state that added.
func (f *fieldAgg) add(a *aggSpec, v float64, t int64) int {
	f.n++
	f.sum += v
	if f.n == 1 {
		f.min, f.max, f.first, f.last, f.firstT, f.lastT = v, v, v, v, t, t
	} else {
		f.min, f.max = min(f.min, v), max(f.max, v)
		if t < f.firstT {
			f.first, f.firstT = v, t
		}
		if t >= f.lastT {
			f.last, f.lastT = v, t
		}
	}
	if a.funcs&(1<<fnStddev) != 0 {
		d := v - f.mean
		f.mean += d / float64(f.n)
		f.m2 += d * (v - f.mean)
	}
	if f.sketch.s == nil {
		return 0
	}
	f.sketch.add(v)
	if f.sketchBytesEstimated < 2048 { // a buffer of indexes, then pages
		f.sketchBytesEstimated += 8
		return 8
	}
	return 0
}

// result is function fn of the field, and false when it is null.
func (f *fieldAgg) result(fn int) (float64, bool) {
	if fn == fnCount {
		return float64(f.n), true
	}
	if f.n == 0 {
		return 0, false
	}
	var v float64
	switch fn {
	case fnSum:
		v = f.sum
	case fnMin:
		v = f.min
	case fnMax:
		v = f.max
	case fnMean:
		v = f.sum / float64(f.n)
	case fnFirst:
		v = f.first
	case fnLast:
		v = f.last
	case fnStddev:
		v = math.Sqrt(f.m2 / float64(f.n))
	default:
		q, ok := f.sketch.quantile(funcQuantiles[fn])
		if !ok {
			return 0, false
		}
		v = q
	}
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// groupOf builds the group object (the internal key) and the output key of
// a record grouped by GroupBy entries other than exactly ["key"].
func (w *windowOp) groupOf(r *Record, gb, kb []byte) ([]byte, []byte) {
	gb = append(gb, '{')
	for i, name := range w.groupBy {
		if i > 0 {
			gb = append(gb, ',')
			kb = append(kb, '/')
		}
		gb = appendJSONString(gb, name)
		gb = append(gb, ':')
		if name == "key" {
			gb = appendJSONString(gb, string(r.Key))
			kb = append(kb, r.Key...)
			continue
		}
		v := w.gvals[i]
		if s, isStr := v.(string); isStr {
			gb = appendJSONString(gb, s)
			kb = append(kb, s...)
			continue
		}
		n := len(gb)
		gb = appendJSONValue(gb, v)
		if v != nil {
			kb = append(kb, gb[n:]...)
		}
	}
	return append(gb, '}'), kb
}

// appendJSONValue appends v (a value of a decoded JSON object) as JSON.
func appendJSONValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, x)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	if f, ok := finiteNumber(v); ok {
		return appendJSONFloat(b, f)
	}
	enc, err := json.Marshal(v) // objects and arrays: maps sort their keys
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
}

// appendJSONString appends s as a JSON string as encoding/json writes it
// without HTML escaping: invalid UTF-8 becomes \ufffd, U+2028 and U+2029
// are escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 && shortEscapes[c] != 0:
				b = append(b, '\\', shortEscapes[c])
			case c < 0x20:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// shortEscapes are the control characters encoding/json writes as \n etc.
var shortEscapes = [0x20]byte{'\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}

// sorted returns the pane's groups in order of internal key, in *buf.
func (p *pane) sorted(buf *[]*group) []*group {
	gs := (*buf)[:0]
	for _, g := range p.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.gkey, b.gkey) })
	*buf = gs
	return gs
}
