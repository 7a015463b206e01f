package aggregator

import "sync/atomic"

// stepStats are counters the built-in steps of one pipeline share across
// its partitions (they are summed into the pipeline's metrics).
type stepStats struct {
	filtered   atomic.Uint64 // records a filter dropped
	exprErrors atomic.Uint64 // records a filter or map could not evaluate
	late       atomic.Uint64 // records deadband or downsample dropped as late
}

// LateCounter is an optional interface of an Operator that drops or
// corrects late records (a window): Late is how many it saw since it was
// made. The pipeline adds it to tributary_aggregator_late_total.
type LateCounter interface {
	Late() uint64
}
