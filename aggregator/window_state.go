package aggregator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// The window step's state encoding, version 1 (integers are varints,
// strings and byte strings are length-prefixed, floats are 8 bytes
// little-endian):
//
//	version=1, fingerprint of the configuration, flags (bit 0: a watermark
//	is set), watermark (ns), late count, number of windows, then each window
//	in order of start: start (ns), closed (0/1), number of groups, then each
//	group in order of internal key: internal key (the record key for
//	group_by [key], else the group object), output key (not for group_by
//	[key]: it is the internal key), count, revision, then for each
//	aggregate field: n, and when n > 0 sum; min and max (if min or max is
//	asked for); Welford's mean and m2 (if stddev is); first, last, first
//	time, last time (if first or last is); the quantile sketch's encoding
//	(if a quantile is).
//
// The same state gives the same bytes. A state made under another window
// configuration (size, slide, group_by, fields, functions) is refused.
const windowStateVersion = 1

// MarshalState encodes the open windows, the windows kept for corrections,
// the watermark and the late count; nil when there is nothing to keep.
func (w *windowOp) MarshalState() ([]byte, error) {
	if len(w.open) == 0 && len(w.shut) == 0 && !w.hasWM && w.late == 0 {
		return nil, nil
	}
	b := []byte{windowStateVersion}
	b = appendString(b, w.fingerprint)
	flags := byte(0)
	if w.hasWM {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, w.wm)
	b = binary.AppendUvarint(b, w.late)
	starts := make([]int64, 0, len(w.open)+len(w.shut))
	for s := range w.open {
		starts = append(starts, s)
	}
	for s := range w.shut {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	b = binary.AppendUvarint(b, uint64(len(starts)))
	for _, s := range starts {
		p, closed := w.open[s], byte(0)
		if p == nil {
			p, closed = w.shut[s], 1
		}
		b = binary.AppendVarint(b, s)
		b = append(b, closed)
		b = w.appendPane(b, p)
	}
	return b, nil
}

func (w *windowOp) appendPane(b []byte, p *pane) []byte {
	var gs []*group
	b = binary.AppendUvarint(b, uint64(len(p.groups)))
	for _, g := range p.sorted(&gs) {
		b = appendString(b, g.gkey)
		if !w.byKey {
			b = appendString(b, string(g.key))
		}
		b = binary.AppendUvarint(b, g.count)
		b = binary.AppendUvarint(b, g.revision)
		for i := range g.fields {
			b = appendFieldAgg(b, &g.fields[i], &w.aggs[i])
		}
	}
	return b
}

// The floats a field's state keeps, by the functions that need them.
const (
	minMaxFuncs    = 1<<fnMin | 1<<fnMax
	firstLastFuncs = 1<<fnFirst | 1<<fnLast
)

func appendFieldAgg(b []byte, f *fieldAgg, a *aggSpec) []byte {
	b = binary.AppendUvarint(b, f.n)
	if f.n == 0 {
		return b
	}
	b = appendFloats(b, f.sum)
	if a.funcs&minMaxFuncs != 0 {
		b = appendFloats(b, f.min, f.max)
	}
	if a.funcs&(1<<fnStddev) != 0 {
		b = appendFloats(b, f.mean, f.m2)
	}
	if a.funcs&firstLastFuncs != 0 {
		b = appendFloats(b, f.first, f.last)
		b = binary.AppendVarint(b, f.firstT)
		b = binary.AppendVarint(b, f.lastT)
	}
	if a.sketch {
		b = f.sketch.appendTo(b)
	}
	return b
}

func appendFloats(b []byte, fs ...float64) []byte {
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errWindowState is returned, wrapped, for a state UnmarshalState cannot read.
var errWindowState = errors.New("window state is damaged")

// UnmarshalState restores what MarshalState encoded into a fresh window
// step of the same configuration.
func (w *windowOp) UnmarshalState(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	d := stateReader{b: b}
	if v := d.byte(); v != windowStateVersion {
		return fmt.Errorf("window state version %d: this build reads version %d", v, windowStateVersion)
	}
	if fp := d.str(); d.err == nil && fp != w.fingerprint {
		return fmt.Errorf("window state was made by another window configuration (%s, now %s): reset the pipeline's state", fp, w.fingerprint)
	}
	w.hasWM = d.byte()&1 == 1
	w.wm = d.varint()
	w.late = d.uvarint()
	n := d.count()
	for range n {
		start, closed := d.varint(), d.byte()
		m := w.open
		if closed == 1 {
			m = w.shut
		}
		p := paneIn(m, start)
		w.readPane(&d, p)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		w.open, w.shut, w.hasWM, w.wm, w.late = map[int64]*pane{}, map[int64]*pane{}, false, 0, 0
		return d.err
	}
	return nil
}

func (w *windowOp) readPane(d *stateReader, p *pane) {
	n := d.count()
	for range n {
		g := &group{gkey: d.str(), fields: make([]fieldAgg, len(w.aggs))}
		if w.byKey {
			g.key = []byte(g.gkey)
			g.gjson = appendJSONString([]byte(`{"key":`), g.gkey)
			g.gjson = append(g.gjson, '}')
		} else {
			g.key = []byte(d.str())
			g.gjson = []byte(g.gkey)
		}
		g.count, g.revision = d.uvarint(), d.uvarint()
		for i := range g.fields {
			readFieldAgg(d, &g.fields[i], &w.aggs[i])
		}
		if d.err != nil {
			return
		}
		p.groups[g.gkey] = g
		p.bytes += groupOverhead + len(g.gkey) + len(g.key) + len(g.gjson) + 80*len(g.fields)
	}
}

func readFieldAgg(d *stateReader, f *fieldAgg, a *aggSpec) {
	if a.sketch {
		f.sketch = newQuantileSketch()
	}
	f.n = d.uvarint()
	if f.n == 0 {
		return
	}
	f.sum = d.float()
	if a.funcs&minMaxFuncs != 0 {
		f.min, f.max = d.float(), d.float()
	}
	if a.funcs&(1<<fnStddev) != 0 {
		f.mean, f.m2 = d.float(), d.float()
	}
	if a.funcs&firstLastFuncs != 0 {
		f.first, f.last = d.float(), d.float()
		f.firstT, f.lastT = d.varint(), d.varint()
	}
	if !a.sketch {
		return
	}
	if d.err != nil {
		return
	}
	sk, rest, err := decodeQuantileSketch(d.b)
	if err != nil {
		d.fail(err.Error())
		return
	}
	if sk.s.GetCount() != float64(f.n) {
		d.fail("quantile sketch count differs from the field's")
		return
	}
	f.sketch, d.b = sk, rest
	f.sketchBytesEstimated = min(int(f.n)*8, 2048)
}

// stateReader reads a state; the first problem sticks in err.
type stateReader struct {
	b   []byte
	err error
}

func (d *stateReader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errWindowState, what)
	}
	d.b = nil
}

func (d *stateReader) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *stateReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *stateReader) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length, which cannot exceed the bytes left.
func (d *stateReader) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail("length past the end")
		return 0
	}
	return int(v)
}

func (d *stateReader) bytes(n int) []byte {
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *stateReader) str() string { return string(d.bytes(d.count())) }

func (d *stateReader) float() float64 {
	v := d.bytes(8)
	if len(v) < 8 {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(v))
}

// StateSize is about how many bytes the windows hold.
func (w *windowOp) StateSize() int {
	n := 64
	for _, p := range w.open {
		n += p.bytes
	}
	for _, p := range w.shut {
		n += p.bytes
	}
	return n
}
