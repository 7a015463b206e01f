package aggregator

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// SketchRelativeAccuracy is the quantile sketch's guarantee: a quantile it
// reports is within ±1% (relative) of the value of rank ⌊q·(n−1)⌋ of the
// values it was given (0-based, in sorted order).
const SketchRelativeAccuracy = 0.01

// sketchMapping is shared by every sketch: it is immutable, and sharing it
// lets a sketch's encoding leave it out.
var sketchMapping = mustMapping(mapping.NewLogarithmicMapping(SketchRelativeAccuracy))

func mustMapping(m *mapping.LogarithmicMapping, err error) mapping.IndexMapping {
	if err != nil {
		panic(err)
	}
	return m
}

// quantileSketch is a DDSketch (github.com/DataDog/sketches-go) with
// SketchRelativeAccuracy: mergeable, and its size grows with the log of the
// values' range, not with their number (a buffer of bin indexes while it is
// small, pages of 32 bins after). Its encoding is sketches-go's, a function
// of the values added and their order, so the same input gives the same
// bytes (SparseStore's would not: it walks a map).
type quantileSketch struct {
	s *ddsketch.DDSketch
}

func newQuantileSketch() quantileSketch {
	return quantileSketch{ddsketch.NewDDSketch(sketchMapping, store.NewBufferedPaginatedStore(), store.NewBufferedPaginatedStore())}
}

// add records v; it reports false for a value the sketch cannot hold (NaN,
// or a magnitude beyond about 1.8e308 / 1.01).
func (q quantileSketch) add(v float64) bool {
	return q.s.Add(v) == nil
}

// quantile returns the p-quantile, and false when the sketch is empty: the
// value of rank ⌊p·(n−1)⌋. sketches-go's GetValueAtQuantile uses the
// fractional rank p·(n−1), which rounds down among positive values but up
// among negative ones; an integral rank makes both sides agree.
func (q quantileSketch) quantile(p float64) (float64, bool) {
	s := q.s
	count := s.GetCount()
	if count == 0 {
		return 0, false
	}
	rank := math.Floor(float64(p * (count - 1)))
	neg := s.GetNegativeValueStore().TotalCount()
	switch {
	case rank < neg:
		return -s.Value(s.GetNegativeValueStore().KeyAtRank(neg - 1 - rank)), true
	case rank < neg+s.GetZeroCount():
		return 0, true
	}
	return s.Value(s.GetPositiveValueStore().KeyAtRank(rank - neg - s.GetZeroCount())), true
}

// merge adds o's values to q.
func (q quantileSketch) merge(o quantileSketch) error {
	return q.s.MergeWith(o.s)
}

// appendTo appends the sketch's encoding: the count of zeros, then the
// positive and the negative store, each as its number of bins and, in
// order of index, each bin's index (as a delta from the previous one) and
// count. sketches-go's own Encode is not used: its decoder trusts its input
// (a damaged bin index made it allocate without bound), and its SparseStore
// encoding walks a map.
func (q quantileSketch) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(q.s.GetZeroCount()))
	b = appendStore(b, q.s.GetPositiveValueStore())
	return appendStore(b, q.s.GetNegativeValueStore())
}

func appendStore(b []byte, st store.Store) []byte {
	type bin struct {
		index int
		count float64
	}
	var bins []bin
	st.ForEach(func(index int, count float64) bool {
		bins = append(bins, bin{index, count})
		return false
	})
	slices.SortFunc(bins, func(a, b bin) int { return cmp.Compare(a.index, b.index) })
	b = binary.AppendUvarint(b, uint64(len(bins)))
	prev := 0
	for _, x := range bins {
		b = binary.AppendVarint(b, int64(x.index-prev))
		b = binary.AppendUvarint(b, uint64(x.count))
		prev = x.index
	}
	return b
}

// sketch bin indexes lie within these (those of the smallest and largest
// magnitudes the mapping takes).
var (
	minSketchIndex = sketchMapping.Index(sketchMapping.MinIndexableValue())
	maxSketchIndex = sketchMapping.Index(sketchMapping.MaxIndexableValue())
)

// decodeQuantileSketch reads what appendTo wrote, and what is left after it.
func decodeQuantileSketch(b []byte) (quantileSketch, []byte, error) {
	q := newQuantileSketch()
	zeros, n := binary.Uvarint(b)
	if n <= 0 {
		return q, nil, errors.New("quantile sketch: bad zero count")
	}
	b = b[n:]
	if zeros > 0 {
		q.s.AddWithCount(0, float64(zeros)) //nolint:errcheck // 0 is always taken
	}
	var err error
	if b, err = decodeStore(b, q.s.GetPositiveValueStore()); err != nil {
		return q, nil, err
	}
	b, err = decodeStore(b, q.s.GetNegativeValueStore())
	return q, b, err
}

func decodeStore(b []byte, st store.Store) ([]byte, error) {
	bins, n := binary.Uvarint(b)
	if n <= 0 || bins > uint64(len(b)) {
		return nil, errors.New("quantile sketch: bad bin count")
	}
	b = b[n:]
	index := int64(0)
	for range bins {
		d, n := binary.Varint(b)
		if n <= 0 {
			return nil, errors.New("quantile sketch: bad bin index")
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 || c == 0 {
			return nil, errors.New("quantile sketch: bad bin count")
		}
		b = b[n:]
		index += d
		if index < int64(minSketchIndex) || index > int64(maxSketchIndex) {
			return nil, fmt.Errorf("quantile sketch: bin index %d outside [%d, %d]", index, minSketchIndex, maxSketchIndex)
		}
		st.AddWithCount(int(index), float64(c))
	}
	return b, nil
}
