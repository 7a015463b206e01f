package cluster

import (
	"context"
	"errors"

	"github.com/tributary-io/tributary/spool"
)

// errFenced is returned by a sink when a newer session of the site (on this
// hub or another) took the site over: the session ends with ABORTED.
var errFenced = errors.New("fenced: a newer session of this site took over")

// errRejected is matched by a sink's error for a write it will never store
// as it is (a record too large for Kafka): the session ends with
// INVALID_ARGUMENT and the error's text, and the edge, which treats that
// as a refusal, waits long before it tries again.
var errRejected = errors.New("rejected")

// sink is the store behind a hub's sessions: the hub spool (spoolSink) or
// Kafka (kafkaSink). It keeps the records, the checkpoints and the site
// registry, and it fences: once a session of a site is open, no earlier
// session of that site can commit anything.
type sink interface {
	// sites returns the stored site registry.
	sites(ctx context.Context) (map[string]siteRecord, error)
	// target resolves the hub stream (or topic) an edge stream goes to: its
	// partition count, or a reason to refuse the stream.
	target(ctx context.Context, name string) (parts int, refusal string, err error)
	// open fences the site's earlier sessions and stores rec; the checkpoints
	// the returned session reports are those left once the fenced sessions
	// can commit nothing more.
	open(ctx context.Context, site string, rec siteRecord) (sinkSession, error)
	// checkpoint is the stored checkpoint of a partition, for ListSites.
	checkpoint(site, epoch, stream string, p uint32) (uint64, error)
}

// sinkSession is one session's writer.
type sinkSession interface {
	// gen is the session's generation, for logs and the Welcome.
	gen() uint64
	// priorGaps is the site's gap count as the store held it when the
	// session opened, where that can be more than the hub knew (another
	// hub served the site before).
	priorGaps() uint64
	// resume returns the checkpoint of (epoch, stream, p) and whether one is
	// stored.
	resume(ctx context.Context, epoch, stream string, p uint32) (uint64, bool, error)
	// commit stores w asynchronously. Writes land in the order of the calls,
	// and after one fails no later one lands. done runs once, when w is
	// durable or failed, and must not block; when commit returns an error,
	// done does not run.
	commit(ctx context.Context, w *write, done func(error)) error
	// close releases the session's resources; queued writes fail.
	close()
}

// write is one atomic step of a session: records of one edge partition (or
// a gap) and the partition's new checkpoint.
type write struct {
	epoch     string
	stream    string // edge stream
	partition uint32 // edge partition
	target    string // hub stream or topic
	hubParts  int
	from      uint64 // edge offset of recs[0], or the gap's first offset
	recs      []spool.Record
	prev      uint64 // the checkpoint before, if hadPrev
	hadPrev   bool
	next      uint64 // the checkpoint after
	gap       *gapRecord
	site      *siteRecord // the site record to store with it, if it changed
	bytes     int         // record bytes, for the sink's bounds
}
