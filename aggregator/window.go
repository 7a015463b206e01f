package aggregator

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// windowOp is the window step: tumbling or hopping windows on event time,
// grouped by the record key and/or value fields, with aggregates per field.
//
// # Windows
//
// Windows are aligned to the Unix epoch. A window step has a size S and a
// slide H (0 < H ≤ S; H = 0 means S: tumbling). Windows start at every
// multiple of H and cover [start, start+S); a record belongs to every window
// that contains its event time (one when tumbling, ⌈S/H⌉ or ⌊S/H⌋ when
// hopping). S/H may be at most 1000.
//
// # Watermark and late records
//
// Advance(watermark) closes every open window whose end ≤ watermark: it
// emits one record per group of the window, in order of window end, then of
// the group's internal key (for GroupBy ["key"], the record key's bytes),
// and drops the window from the open state. A window with no records has no
// groups and emits nothing.
//
// A record that belongs to a window that has already closed (its end ≤ the
// last watermark given to Advance) is late for that window. With the
// pipeline's Late "drop" (the default) the closed window ignores it; with
// "correct" the closed window's state is kept for a retention of
// max(AllowedLateness, S) after it closed (until watermark ≥ end +
// retention), and a late record updates it and emits, at once, the group's
// recomputed result marked "correction": true with "revision": n (1 for the
// first correction of that group in that window, 2 for the next…; a group
// the window never emitted gets its first record as revision 1). A late
// record for a closed window past its retention is dropped. The kept
// windows are part of the state. Late() counts
// the records that were late for at least one of their windows (dropped or
// corrected); a hopping record may be late for some windows and still count
// in the open ones.
//
// # Values
//
// An aggregate's field is a top-level field of the record's JSON object
// value. Only numbers count: a field that is missing, null, a string
// (including "NaN"), a bool, an object, an array, NaN or ±Inf is skipped
// for that field's aggregates, while the record still counts in the
// group's "count". A record whose value is not a JSON object counts, with
// every field missing. A GroupBy field may hold any JSON value; a missing
// one groups as null.
//
// Functions: count (numeric values of the field), sum, min, max, mean
// (sum/count), first and last (the value with the earliest / latest event
// time; equal times: the first / last in offset order), stddev (population
// standard deviation, √(Σ(x−mean)²/count), by Welford's method; 0 for one
// value), p50, p95, p99 (from a DDSketch: within ±1% relative error of the
// exact value of rank ⌊q·(count−1)⌋, see SketchRelativeAccuracy). Float
// operations run in offset order, so the same input gives the same bits.
// A function over a field with no numeric values, or whose result is not
// finite (a sum that overflows), is null.
//
// # Output record
//
// Key: for GroupBy ["key"], the record key; for no GroupBy, empty;
// otherwise the group's parts joined with "/" in GroupBy order: the record
// key for "key", a string field's text, another field's JSON text, "" for
// a missing field (the key may be ambiguous; the "group" object is not).
// Time: the window start. Header "tributary.window": "tumbling" or
// "hopping". Value, a JSON object with keys in this order:
//
//	{"window_start":"2026-11-29T10:00:00Z","window_end":"2026-11-29T10:01:00Z",
//	 "group":{"key":"meter-0042"},"count":12,
//	 "aggregates":{"v":{"count":11,"sum":2530.2,"min":229.1,"max":230.8,"mean":230.01818181818182}}}
//
// window_start and window_end are RFC 3339 in UTC with nanoseconds as
// needed (time.RFC3339Nano). "group" has one member per GroupBy entry, in
// GroupBy order ("key": the record key as a string, invalid UTF-8 written
// as \ufffd). "count" is the number of records in the group's window.
// "aggregates" has one object per configured field, in configuration
// order, and in each the configured functions in the order count sum min
// max mean first last stddev p50 p95 p99. Strings and numbers are
// formatted as encoding/json formats a string (without HTML escaping) and a
// float64. A correction adds
// ,"correction":true,"revision":n at the end.
type windowOp struct {
	size, slide int64 // ns
	kind        string
	groupBy     []string
	byKey       bool // GroupBy is exactly ["key"]
	needFields  bool
	aggs        []aggSpec
	correct     bool
	retention   int64 // ns a closed window is kept for corrections
	fingerprint string

	wm    int64 // last watermark, ns
	hasWM bool
	open  map[int64]*pane // by window start
	shut  map[int64]*pane // closed windows kept for corrections
	late  uint64

	last     *pane    // the pane of the last record (the common case)
	names    []string // aggregate fields, then group_by entries ("" for "key")
	spans    []span
	gvals    []any // the record's group_by values
	vals     []float64
	valOK    []bool
	gbuf     []byte
	kbuf     []byte
	starts   []int64
	outSlice []*group
}

// aggSpec is one configured field and its functions.
type aggSpec struct {
	field  string
	funcs  uint16 // bit i: function i of funcNames
	sketch bool   // a quantile is asked for
}

const (
	fnCount = iota
	fnSum
	fnMin
	fnMax
	fnMean
	fnFirst
	fnLast
	fnStddev
	fnP50
	fnP95
	fnP99
	numFuncs
)

var funcNames = [numFuncs]string{"count", "sum", "min", "max", "mean", "first", "last", "stddev", "p50", "p95", "p99"}

var funcQuantiles = [numFuncs]float64{fnP50: 0.5, fnP95: 0.95, fnP99: 0.99}

const quantileFuncs = 1<<fnP50 | 1<<fnP95 | 1<<fnP99

// maxWindowsPerRecord bounds S/H: each record updates that many windows.
const maxWindowsPerRecord = 1000

// HeaderWindow is the header an output record of a window step carries:
// "tumbling" or "hopping".
const HeaderWindow = "tributary.window"

var _ Operator = (*windowOp)(nil)

// NewWindow makes a window step for pipeline p, for programs that drive
// one outside a pipeline (bench/aggbench, an offline recomputation); the
// runtime makes its steps from the configuration. The step has a method
// Late() uint64. See newWindow.
func NewWindow(cfg WindowConfig, p PipelineConfig) (Operator, error) { return newWindow(cfg, p) }

// newWindow makes a window step for pipeline p; see windowOp for its
// semantics and output.
func newWindow(cfg WindowConfig, p PipelineConfig) (Operator, error) {
	w := &windowOp{size: int64(cfg.Size), slide: int64(cfg.Slide), open: map[int64]*pane{}, shut: map[int64]*pane{}}
	if err := w.setTimes(cfg); err != nil {
		return nil, err
	}
	if err := w.setGroupBy(cfg.GroupBy); err != nil {
		return nil, err
	}
	if err := w.setAggregates(cfg.Aggregates); err != nil {
		return nil, err
	}
	if err := w.setLate(p); err != nil {
		return nil, err
	}
	w.fingerprint = fmt.Sprintf("%d/%d/%q/%v", w.size, w.slide, w.groupBy, w.aggs)
	w.vals, w.valOK = make([]float64, len(w.aggs)), make([]bool, len(w.aggs))
	for _, a := range w.aggs {
		w.names = append(w.names, a.field)
	}
	for _, g := range w.groupBy {
		if g == "key" {
			g = ""
		}
		w.names = append(w.names, g)
	}
	w.spans, w.gvals = make([]span, len(w.names)), make([]any, len(w.groupBy))
	return w, nil
}

func (w *windowOp) setTimes(cfg WindowConfig) error {
	if cfg.Size <= 0 {
		return fmt.Errorf("invalid window size %v: must be more than 0", cfg.Size)
	}
	if w.slide == 0 {
		w.slide = w.size
	}
	if cfg.Slide < 0 || w.slide > w.size {
		return fmt.Errorf("invalid window slide %v: must be more than 0 and at most the size %v (0: tumbling)", cfg.Slide, cfg.Size)
	}
	if (w.size+w.slide-1)/w.slide > maxWindowsPerRecord {
		return fmt.Errorf("invalid window slide %v: size/slide must be at most %d", cfg.Slide, maxWindowsPerRecord)
	}
	w.kind = "hopping"
	if w.slide == w.size {
		w.kind = "tumbling"
	}
	return nil
}

func (w *windowOp) setGroupBy(gb []string) error {
	for i, f := range gb {
		if f == "" {
			return fmt.Errorf("invalid window group_by[%d]: empty; use \"key\" or a value field name", i)
		}
		if slices.Contains(gb[:i], f) {
			return fmt.Errorf("invalid window group_by[%d]: %q is listed twice", i, f)
		}
		if f != "key" {
			w.needFields = true
		}
	}
	w.groupBy = slices.Clone(gb)
	w.byKey = len(gb) == 1 && gb[0] == "key"
	return nil
}

func (w *windowOp) setAggregates(aggs []AggregateConfig) error {
	for i, a := range aggs {
		if a.Field == "" {
			return fmt.Errorf("invalid window aggregates[%d].field: empty", i)
		}
		if slices.ContainsFunc(aggs[:i], func(b AggregateConfig) bool { return b.Field == a.Field }) {
			return fmt.Errorf("invalid window aggregates[%d].field: %q is listed twice; list its functions once", i, a.Field)
		}
		if len(a.Functions) == 0 {
			return fmt.Errorf("invalid window aggregates[%d].functions: empty; allowed: %v", i, funcNames)
		}
		s := aggSpec{field: a.Field}
		for j, name := range a.Functions {
			k := slices.Index(funcNames[:], name)
			if k < 0 {
				return fmt.Errorf("invalid window aggregates[%d].functions[%d]: unknown function %q; allowed: %v", i, j, name, funcNames)
			}
			s.funcs |= 1 << k
		}
		s.sketch = s.funcs&quantileFuncs != 0
		w.aggs = append(w.aggs, s)
		w.needFields = true
	}
	return nil
}

func (w *windowOp) setLate(p PipelineConfig) error {
	if p.AllowedLateness < 0 {
		return fmt.Errorf("invalid allowed_lateness %v: must be 0 or more", p.AllowedLateness)
	}
	switch p.Late {
	case "", "drop":
	case "correct":
		w.correct = true
		w.retention = max(int64(p.AllowedLateness), w.size)
	default:
		return fmt.Errorf("invalid late %q: must be \"drop\" (the default) or \"correct\"", p.Late)
	}
	return nil
}

// Late is the number of records that were late for at least one of their
// windows: dropped by it, or emitted in a correction.
func (w *windowOp) Late() uint64 { return w.late }

// Process adds r to each of its windows.
func (w *windowOp) Process(r *Record, emit func(*Record)) error {
	t := r.Time.UnixNano()
	w.extract(r)
	last := floorDiv(t, w.slide) * w.slide
	wasLate := false
	for start := last; start > t-w.size; start -= w.slide {
		if !w.hasWM || start+w.size > w.wm {
			w.openPane(start).add(w, r, t)
			continue
		}
		wasLate = true
		if w.correct && start+w.size+w.retention > w.wm {
			g := paneIn(w.shut, start).add(w, r, t)
			g.revision++
			emit(w.output(start, g))
		}
	}
	if wasLate {
		w.late++
	}
	return nil
}

// extract reads the record's aggregate fields into w.vals/w.valOK and its
// group into w.gbuf (internal key) and w.kbuf (output key).
func (w *windowOp) extract(r *Record) {
	switch {
	case !w.needFields:
	case r.decoded: // an earlier step decoded it: use its map
		fields := r.fields
		for i, a := range w.aggs {
			w.vals[i], w.valOK[i] = finiteNumber(fields[a.field])
		}
		for i, g := range w.groupBy {
			w.gvals[i] = fields[g]
		}
	case scanFields(r.Value, w.names, w.spans):
		for i := range w.aggs {
			w.vals[i], w.valOK[i] = spanNumber(r.Value, w.spans[i])
		}
		for i := range w.groupBy {
			if !w.byKey {
				w.gvals[i] = spanValue(r.Value, w.spans[len(w.aggs)+i])
			}
		}
	default: // not a JSON object: every field is missing
		clear(w.valOK)
		clear(w.gvals)
	}
	if !w.byKey {
		w.gbuf, w.kbuf = w.groupOf(r, w.gbuf[:0], w.kbuf[:0])
	}
}

// openPane returns the open window starting at start, made if need be.
func (w *windowOp) openPane(start int64) *pane {
	if p := w.last; p != nil && p.start == start {
		return p
	}
	p := paneIn(w.open, start)
	w.last = p
	return p
}

// paneIn returns the window starting at start in m, made if need be.
func paneIn(m map[int64]*pane, start int64) *pane {
	p := m[start]
	if p == nil {
		p = &pane{start: start, groups: map[string]*group{}}
		m[start] = p
	}
	return p
}

// floorDiv is a/b rounded towards −∞ (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// finiteNumber is v as a finite float64, if it is a number.
func finiteNumber(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case int32:
		f = float64(n)
	case uint64:
		f = float64(n)
	case uint32:
		f = float64(n)
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// Advance closes the windows that end at or before watermark.
func (w *windowOp) Advance(watermark time.Time, emit func(*Record)) error {
	wm := watermark.UnixNano()
	if w.hasWM && wm < w.wm {
		wm = w.wm
	}
	w.wm, w.hasWM = wm, true
	w.starts = w.starts[:0]
	for start := range w.open {
		if start+w.size <= wm {
			w.starts = append(w.starts, start)
		}
	}
	slices.Sort(w.starts)
	for _, start := range w.starts {
		p := w.open[start]
		for _, g := range p.sorted(&w.outSlice) {
			emit(w.output(start, g))
		}
		delete(w.open, start)
		if w.correct {
			w.shut[start] = p
		}
	}
	for start := range w.shut {
		if start+w.size+w.retention <= wm {
			delete(w.shut, start)
		}
	}
	w.last = nil
	return nil
}
