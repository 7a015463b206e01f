package spool

import (
	"encoding/binary"
	"fmt"
	"time"
)

// A Gap is a range of offsets whose records were dropped before every
// protecting cursor had passed them: under the drop_oldest policy when the
// stream's byte budget was full. Readers meet it in offset order, where the
// records would have been, and it is replicated like data.
type Gap struct {
	From    uint64    // first offset dropped
	To      uint64    // one past the last offset dropped
	MinTime time.Time // event-time range of the dropped records
	MaxTime time.Time
	At      time.Time // when they were dropped
	Reason  string    // why, e.g. "max_bytes"
}

// Count is the number of records dropped.
func (g Gap) Count() uint64 { return g.To - g.From }

// ReasonMaxBytes is the Reason of a gap made by the drop_oldest policy.
const ReasonMaxBytes = "max_bytes"

const gapFixed = 5 * 8

func encodeGap(g Gap) []byte {
	b := make([]byte, 0, gapFixed+len(g.Reason))
	for _, v := range []uint64{g.From, g.To, uint64(g.MinTime.UnixNano()), uint64(g.MaxTime.UnixNano()), uint64(g.At.UnixNano())} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return append(b, g.Reason...)
}

func decodeGap(b []byte) (Gap, error) {
	if len(b) < gapFixed {
		return Gap{}, fmt.Errorf("%w: gap record has %d bytes, want at least %d", ErrCorrupt, len(b), gapFixed)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[i*8:]) }
	t := func(i int) time.Time { return time.Unix(0, int64(u(i))).UTC() }
	g := Gap{From: u(0), To: u(1), MinTime: t(2), MaxTime: t(3), At: t(4), Reason: string(b[gapFixed:])}
	if g.To <= g.From {
		return Gap{}, fmt.Errorf("%w: gap [%d, %d) is empty", ErrCorrupt, g.From, g.To)
	}
	return g, nil
}
