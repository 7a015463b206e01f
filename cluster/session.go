package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

// The headers a record gains at the hub.
const (
	HeaderSite = "tributary.site"
)

// session is one open replication stream of a site. Its receive loop owns
// parts and mark; acks go out from a second goroutine, in the order the
// batches came.
type session struct {
	srv        *Server
	site       string
	epoch      string
	w          sinkSession
	parts      map[partKey]*partState
	gapRecords uint64
	budget     *semaphore.Weighted // Options.PipelineBytes

	ctx    context.Context
	cancel context.CancelCauseFunc
}

// partState is one edge partition within a session.
type partState struct {
	target   string // hub stream
	hubParts int
	next     uint64 // the checkpoint once everything queued commits
	stored   bool   // a checkpoint is stored (or queued)
	acked    uint64
}

// pendingAck is one queued commit; done closes when it is durable or failed.
type pendingAck struct {
	done    chan struct{}
	err     error
	ack     *tributaryv1.Ack
	records int
	bytes   int64 // taken from the session's byte budget
	start   time.Time
}

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// run sends the Welcome, then receives batches and sends acks until the
// edge closes, something fails, or a newer session fences this one.
func (ss *session) run(stream tributaryv1.ReplicationService_ReplicateServer, w *tributaryv1.Welcome) error {
	defer ss.w.close()
	defer ss.cancel(nil)
	if err := stream.Send(&tributaryv1.ReplicateResponse{Msg: &tributaryv1.ReplicateResponse_Welcome{Welcome: w}}); err != nil {
		return err
	}
	queue := make(chan *pendingAck, ss.srv.opts.Pipeline)
	recvDone := make(chan error, 1)
	sendDone := make(chan struct{})
	go func() {
		defer close(queue)
		recvDone <- ss.receive(stream, queue)
	}()
	go func() {
		defer close(sendDone)
		ss.sendAcks(stream, queue)
	}()
	select {
	case err := <-recvDone:
		if err != nil {
			ss.cancel(err)
			return err
		}
		<-sendDone // the edge closed its side: ack what is queued
		if err := context.Cause(ss.ctx); err != nil {
			return err
		}
		return nil
	case <-ss.ctx.Done():
		return context.Cause(ss.ctx)
	}
}

func (ss *session) receive(stream tributaryv1.ReplicationService_ReplicateServer, queue chan<- *pendingAck) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return errRecv(err)
		}
		switch m := req.GetMsg().(type) {
		case *tributaryv1.ReplicateRequest_Batch:
			ss.srv.contact(ss, nil)
			if err := ss.batch(m.Batch, queue); err != nil {
				return err
			}
		case *tributaryv1.ReplicateRequest_Heartbeat:
			ss.srv.contact(ss, m.Heartbeat)
		case *tributaryv1.ReplicateRequest_Hello:
			return status.Error(codes.InvalidArgument, "a second Hello in one session")
		default:
			return status.Error(codes.InvalidArgument, "empty request")
		}
	}
}

// batch trims b against the checkpoint and queues its commit.
func (ss *session) batch(b *tributaryv1.Batch, queue chan<- *pendingAck) error {
	m := ss.srv.m
	start := ss.srv.opts.Now()
	ps := ss.parts[partKey{b.GetStream(), b.GetPartition()}]
	base, end := b.GetBaseOffset(), b.GetBaseOffset()+uint64(b.GetCount())
	switch {
	case ps == nil:
		return status.Errorf(codes.InvalidArgument, "batch for stream %q partition %d, which this session did not open", b.GetStream(), b.GetPartition())
	case b.GetCount() == 0:
		return status.Errorf(codes.InvalidArgument, "batch of stream %q partition %d at %d is empty", b.GetStream(), b.GetPartition(), base)
	case base > ps.next:
		return status.Errorf(codes.FailedPrecondition, "hole: batch of stream %q partition %d starts at %d, the hub's checkpoint is %d; resume from it",
			b.GetStream(), b.GetPartition(), base, ps.next)
	}
	m.batches.Inc()
	m.bytes.Add(float64(len(b.GetData())))
	if end <= ps.next { // all of it is here already
		m.trimmed.Add(float64(end - base))
		return ss.enqueue(queue, &pendingAck{done: closedDone, ack: ss.ack(b, ps.next), start: start})
	}
	if b.GetGap() != nil {
		return ss.gap(b, ps, queue, start)
	}
	hdr, recs, err := spool.DecodeBatch(b.GetData())
	if err != nil {
		return status.Errorf(codes.DataLoss, "batch of stream %q partition %d at %d: %v", b.GetStream(), b.GetPartition(), base, err)
	}
	if hdr.BaseOffset != base || hdr.Count != b.GetCount() {
		return status.Errorf(codes.InvalidArgument, "batch of stream %q partition %d: message says offsets %d+%d, the batch holds %d+%d",
			b.GetStream(), b.GetPartition(), base, b.GetCount(), hdr.BaseOffset, hdr.Count)
	}
	if skip := ps.next - base; skip > 0 {
		m.trimmed.Add(float64(skip))
		recs = recs[skip:]
	}
	// Commit in chunks of at most MaxTxnBytes, each with its checkpoint.
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) {
			rs := spool.RecordSize(&recs[n]) + len(HeaderSite) + len(ss.site) + 8
			if n > 0 && size+rs > ss.srv.opts.MaxTxnBytes {
				break
			}
			size += rs
			n++
		}
		wr := ss.write(b, ps, ps.next+uint64(n))
		wr.recs, wr.bytes = recs[:n], size
		if err := ss.commit(queue, wr, &pendingAck{ack: ss.ack(b, wr.next), records: n, start: start}); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// write is the next step of ps: from its checkpoint to next.
func (ss *session) write(b *tributaryv1.Batch, ps *partState, next uint64) *write {
	w := &write{
		epoch: ss.epoch, stream: b.GetStream(), partition: b.GetPartition(), target: ps.target, hubParts: ps.hubParts,
		from: ps.next, prev: ps.next, hadPrev: ps.stored, next: next,
	}
	ps.next, ps.stored = next, true
	return w
}

// gap records offsets the edge lost, and moves the checkpoint past them.
func (ss *session) gap(b *tributaryv1.Batch, ps *partState, queue chan<- *pendingAck, start time.Time) error {
	g := b.GetGap()
	from, end := max(b.GetBaseOffset(), ps.next), b.GetBaseOffset()+uint64(b.GetCount())
	ss.gapRecords += end - from
	ss.srv.m.gapRecords.Add(float64(end - from))
	rec := gapRecord{
		Site: ss.site, Epoch: ss.epoch, Stream: b.GetStream(), Partition: b.GetPartition(), From: from, To: end,
		MinTime: g.GetMinTime().AsTime(), MaxTime: g.GetMaxTime().AsTime(), DroppedAt: g.GetDroppedAt().AsTime(), Reason: g.GetReason(),
	}
	ss.srv.mu.Lock()
	site := ss.srv.sites[ss.site].rec
	ss.srv.mu.Unlock()
	site.GapRecords = ss.gapRecords
	w := ss.write(b, ps, end)
	w.gap, w.site = &rec, &site
	ss.srv.gapCount(ss, ss.gapRecords)
	ss.srv.opts.Logger.Warn("site reports lost records", "site", ss.site, "stream", rec.Stream, "partition", rec.Partition,
		"from", from, "to", end, "reason", rec.Reason)
	return ss.commit(queue, w, &pendingAck{ack: ss.ack(b, end), start: start})
}

// gapRecord is kept at repl/gap/SITE/EPOCH/STREAM/PART/FROM.
type gapRecord struct {
	Site      string    `json:"site"`
	Epoch     string    `json:"epoch"`
	Stream    string    `json:"stream"`
	Partition uint32    `json:"partition"`
	From      uint64    `json:"from"`
	To        uint64    `json:"to"`
	MinTime   time.Time `json:"min_time"`
	MaxTime   time.Time `json:"max_time"`
	DroppedAt time.Time `json:"dropped_at"`
	Reason    string    `json:"reason"`
}

func gapKey(g gapRecord) string {
	return fmt.Sprintf("repl/gap/%s/%s/%s/%d/%020d", g.Site, g.Epoch, g.Stream, g.Partition, g.From)
}

func (ss *session) ack(b *tributaryv1.Batch, next uint64) *tributaryv1.Ack {
	return &tributaryv1.Ack{Stream: b.GetStream(), Partition: b.GetPartition(), Offset: next}
}

func (ss *session) commit(queue chan<- *pendingAck, w *write, p *pendingAck) error {
	// A write larger than the whole budget (a record beyond MaxTxnBytes)
	// waits for the budget to be free, then goes alone.
	p.bytes = min(int64(w.bytes), int64(ss.srv.opts.PipelineBytes))
	if err := ss.acquire(p.bytes); err != nil {
		return err
	}
	p.done = make(chan struct{})
	if err := ss.enqueue(queue, p); err != nil {
		ss.release(p.bytes)
		return err
	}
	err := ss.w.commit(ss.ctx, w, func(err error) {
		p.err = err
		close(p.done)
	})
	if err != nil {
		p.err = err
		close(p.done)
		return commitStatus(err)
	}
	return nil
}

// acquire takes n bytes from the session's budget, then from the hub's,
// waiting while either is spent.
func (ss *session) acquire(n int64) error {
	if err := ss.budget.Acquire(ss.ctx, n); err != nil {
		return context.Cause(ss.ctx)
	}
	if err := ss.srv.pending.Acquire(ss.ctx, n); err != nil {
		ss.budget.Release(n)
		return context.Cause(ss.ctx)
	}
	ss.srv.m.pending.Add(float64(n))
	return nil
}

func (ss *session) release(n int64) {
	ss.srv.m.pending.Sub(float64(n))
	ss.srv.pending.Release(n)
	ss.budget.Release(n)
}

func (ss *session) enqueue(queue chan<- *pendingAck, p *pendingAck) error {
	// select picks at random among ready cases: an ended session queues
	// nothing more, even when the queue has room.
	if err := context.Cause(ss.ctx); err != nil {
		return err
	}
	select {
	case queue <- p:
		return nil
	case <-ss.ctx.Done():
		return context.Cause(ss.ctx)
	}
}

// sendAcks sends each commit's Ack in order, once it is durable; the first
// failure ends the session.
func (ss *session) sendAcks(stream tributaryv1.ReplicationService_ReplicateServer, queue <-chan *pendingAck) {
	m := ss.srv.m
	// When the session ends first, what is queued still holds bytes of the
	// hub's budget until its commit ends (the sink fails queued writes
	// once the session closes); they go back then.
	var left []*pendingAck
	defer func() {
		go func() {
			for _, p := range left {
				<-p.done
				ss.release(p.bytes)
			}
			for p := range queue { // closed once the receive loop ends
				<-p.done
				ss.release(p.bytes)
			}
		}()
	}()
	for p := range queue {
		select {
		case <-p.done:
			ss.release(p.bytes)
		case <-ss.ctx.Done():
			left = append(left, p)
			return
		}
		if p.err != nil {
			ss.cancel(commitStatus(p.err))
			return
		}
		m.records.Add(float64(p.records))
		m.commit.Observe(ss.srv.opts.Now().Sub(p.start).Seconds())
		if err := stream.Send(&tributaryv1.ReplicateResponse{Msg: &tributaryv1.ReplicateResponse_Ack{Ack: p.ack}}); err != nil {
			ss.cancel(err)
			return
		}
	}
}

// commitStatus maps a failed commit to the status that ends the session.
func commitStatus(err error) error {
	switch {
	case errors.Is(err, spool.ErrConflict), errors.Is(err, errFenced):
		return status.Error(codes.Aborted, "fenced: a newer session of this site took over")
	case errors.Is(err, errRejected):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, spool.ErrFull):
		return status.Errorf(codes.ResourceExhausted, "hub: %v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Errorf(codes.Unavailable, "hub commit: %v", err)
	}
}
