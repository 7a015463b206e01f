package spool

import (
	"fmt"
	"math"
	"strconv"
)

// mapBudget bounds the sum of every stream's MaxBytes. bbolt maps the whole
// file into memory; on 32-bit platforms (arm/v7) a map cannot pass 2 GiB, so
// the data gets 1.5 GiB and bbolt's own pages, free lists and the slack of a
// budget passed by one commit get the rest. On 64-bit platforms it is not
// bounded here.
var mapBudget = func() int64 {
	if strconv.IntSize == 32 {
		return 1536 << 20
	}
	return math.MaxInt64
}()

// checkMapBudget checks the streams' budgets, with next replacing or adding
// the stream of its name, against mapBudget.
func (s *Spool) checkMapBudget(next *StreamConfig) error {
	var total int64
	for name, st := range s.streams {
		if next == nil || name != next.Name {
			total = addBudget(total, st.cfg.MaxBytes)
		}
	}
	if next != nil {
		total = addBudget(total, next.MaxBytes)
	}
	if total > mapBudget {
		return fmt.Errorf("%w: the streams' max_bytes add up to %d bytes, but on this %d-bit platform a spool holds at most %d (bbolt maps the whole file into memory, which 32-bit platforms cap at 2 GiB); lower max_bytes",
			ErrInvalid, total, strconv.IntSize, mapBudget)
	}
	return nil
}

func addBudget(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
