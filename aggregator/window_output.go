package aggregator

import (
	"math"
	"strconv"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// output makes the record of group g in the window starting at start; a
// group with a revision is a correction.
func (w *windowOp) output(start int64, g *group) *Record {
	b := make([]byte, 0, len(g.key)+128+len(g.gjson)+64*len(w.aggs))
	b = append(b, g.key...)
	key := b[:len(g.key):len(g.key)]
	v := w.appendValue(b[len(b):], start, g)
	return &Record{
		Key:     key,
		Value:   v,
		Time:    time.Unix(0, start).UTC(),
		Headers: []spool.Header{{Key: HeaderWindow, Value: []byte(w.kind)}},
	}
}

func (w *windowOp) appendValue(b []byte, start int64, g *group) []byte {
	b = append(b, `{"window_start":"`...)
	b = time.Unix(0, start).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","window_end":"`...)
	b = time.Unix(0, start+w.size).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","group":`...)
	b = append(b, g.gjson...)
	b = append(b, `,"count":`...)
	b = strconv.AppendUint(b, g.count, 10)
	b = append(b, `,"aggregates":{`...)
	for i, a := range w.aggs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a.field)
		b = append(b, ":{"...)
		sep := false
		for fn := range numFuncs {
			if a.funcs&(1<<fn) == 0 {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, '"')
			b = append(b, funcNames[fn]...)
			b = append(b, `":`...)
			if v, ok := g.fields[i].result(fn); ok {
				b = appendJSONFloat(b, v)
			} else {
				b = append(b, "null"...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	if g.revision > 0 {
		b = append(b, `,"correction":true,"revision":`...)
		b = strconv.AppendUint(b, g.revision, 10)
	}
	return append(b, '}')
}

// appendJSONFloat formats f as encoding/json does (shortest repr., 'e'
// notation below 1e-6 and from 1e21); NaN and ±Inf become null.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
