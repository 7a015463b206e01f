package forwarder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

// readBytes is how much one spool read fetches for a partition.
const readBytes = 1 << 20

// grpcConnectParams makes gRPC's own reconnects follow the same backoff.
func grpcConnectParams(o Options) grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: o.MinBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: o.MaxBackoff},
		MinConnectTimeout: 5 * time.Second,
	}
}

// session is one open replication stream: a sender (this goroutine) that
// picks partitions by priority and keeps the window full, and a receiver
// that takes acks.
type session struct {
	f      *Forwarder
	ctx    context.Context
	cancel context.CancelCauseFunc
	stream tributaryv1.ReplicationService_ReplicateClient
	parts  []*part

	mu       sync.Mutex // guards the window and every part's acked/inflight
	inflight int
	inBytes  int
	wake     chan struct{} // an ack freed room, or moved a cursor

	rr         int // round-robin position among equal priorities
	progressed atomic.Bool
	cursors    chan struct{} // a cursor moved: commit cursors
}

// part is one partition being sent.
type part struct {
	stream   string
	p        int
	priority int
	next     uint64 // the next offset to send
	buf      []spool.Entry
	stalled  string // why nothing is sent from it, if set

	// guarded by session.mu
	acked     uint64
	committed uint64 // the cursor as last committed
	sent      []sentBatch
}

type sentBatch struct {
	end     uint64
	size    int
	records int
	at      time.Time
}

func (f *Forwarder) newSession(ctx context.Context, cancel context.CancelCauseFunc, stream tributaryv1.ReplicationService_ReplicateClient,
	w *tributaryv1.Welcome, cfgs map[string]spool.StreamConfig) (*session, error) {
	s := &session{f: f, ctx: ctx, cancel: cancel, stream: stream, wake: make(chan struct{}, 1), cursors: make(chan struct{}, 1)}
	for _, r := range w.GetResume() {
		cfg, ok := cfgs[r.GetStream()]
		if !ok || int(r.GetPartition()) >= cfg.Partitions {
			return nil, status.Errorf(codes.InvalidArgument, "the hub resumes stream %q partition %d, which was not offered", r.GetStream(), r.GetPartition())
		}
		p := &part{stream: r.GetStream(), p: int(r.GetPartition()), priority: cfg.Priority, next: r.GetOffset(), acked: r.GetOffset()}
		start, head, err := f.sp.Offsets(p.stream, p.p)
		if err != nil {
			return nil, err
		}
		c, _, err := f.sp.Cursor(CursorName, p.stream, p.p)
		if err != nil {
			return nil, err
		}
		p.committed = c.Offset
		switch {
		case p.next > head:
			// The hub holds more of this epoch than the edge ever stored:
			// nothing sane to send. Say so and leave the partition alone.
			p.stalled = fmt.Sprintf("the hub's checkpoint %d is past this node's head %d", p.next, head)
			f.opts.Logger.Error("replication: partition not sent", "stream", p.stream, "partition", p.p, "reason", p.stalled)
		case p.next < start:
			// Retention freed offsets the hub never got, and left no gap
			// entry for them (e.g. the hub's own data was reset): send one.
			p.buf = []spool.Entry{{Partition: p.p, Gap: &spool.Gap{From: p.next, To: start, At: f.opts.Now(), Reason: "not on the edge any more"}}}
		}
		s.parts = append(s.parts, p)
	}
	return s, nil
}

// run sends and receives until the stream ends; it returns why.
func (s *session) run() error {
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		s.cancel(s.receive())
	}()
	cursorDone := make(chan struct{})
	go func() {
		defer close(cursorDone)
		s.commitCursors()
	}()
	err := s.send()
	if errors.Is(err, errStreamEnded) {
		// Why it ended is the receiver's to find: gRPC forbids a second
		// Recv on the stream, and its Recv returns at once now.
		select {
		case <-recvDone:
		case <-time.After(time.Second):
		}
	}
	s.cancel(err)
	<-recvDone
	<-cursorDone
	s.f.m.inflight.Set(0)
	return context.Cause(s.ctx)
}

// send is the sender loop.
func (s *session) send() error {
	hb := time.NewTicker(s.f.opts.Heartbeat)
	defer hb.Stop()
	if err := s.heartbeat(); err != nil {
		return err
	}
	for {
		changed := s.f.sp.Changed()
		p, err := s.pick()
		if err != nil {
			return err
		}
		if p == nil {
			select {
			case <-changed:
			case <-s.wake:
			case <-hb.C:
				if err := s.heartbeat(); err != nil {
					return err
				}
			case <-s.ctx.Done():
				return context.Cause(s.ctx)
			}
			continue
		}
		select {
		case <-hb.C:
			if err := s.heartbeat(); err != nil {
				return err
			}
		default:
		}
		if err := s.sendEntry(p); err != nil {
			return err
		}
	}
}

// pick returns the partition to send from next: one with an entry ready,
// of the highest priority, taking turns within a priority. It returns nil
// when the window is full or nothing is ready.
func (s *session) pick() (*part, error) {
	s.mu.Lock()
	full := s.inflight >= s.f.opts.Window || (s.inflight > 0 && s.inBytes >= s.f.opts.WindowBytes)
	s.mu.Unlock()
	if full {
		return nil, nil
	}
	var best *part
	n := len(s.parts)
	for i := range n {
		p := s.parts[(s.rr+i)%n]
		if best != nil && p.priority <= best.priority {
			continue
		}
		ok, err := s.ready(p)
		if err != nil {
			return nil, err
		}
		if ok {
			best = p
		}
	}
	if best != nil {
		s.rr = (s.rr + 1) % n
	}
	return best, nil
}

// ready says whether p has an entry to send, reading it if needed.
func (s *session) ready(p *part) (bool, error) {
	if p.stalled != "" {
		return false, nil
	}
	if len(p.buf) > 0 {
		return true, nil
	}
	_, head, err := s.f.sp.Offsets(p.stream, p.p)
	if err != nil || p.next >= head {
		return false, err
	}
	entries, err := s.f.sp.Read(p.stream, p.p, p.next, readBytes)
	var oor *spool.OutOfRangeError
	switch {
	case errors.As(err, &oor) && p.next < oor.Start:
		// Retention dropped it between the Offsets and the Read.
		p.buf = []spool.Entry{{Partition: p.p, Gap: &spool.Gap{From: p.next, To: oor.Start, At: s.f.opts.Now(), Reason: "not on the edge any more"}}}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read stream %q partition %d at %d: %w", p.stream, p.p, p.next, err)
	}
	p.buf = entries
	return len(entries) > 0, nil
}

// sendEntry sends p's next entry, waiting for the byte budget.
func (s *session) sendEntry(p *part) error {
	e := p.buf[0]
	b := &tributaryv1.Batch{Stream: p.stream, Partition: uint32(p.p), BaseOffset: e.Offset(), Count: uint32(e.NextOffset() - e.Offset())}
	records := 0
	if e.Gap != nil {
		b.Gap = &tributaryv1.Gap{MinTime: ts(e.Gap.MinTime), MaxTime: ts(e.Gap.MaxTime), DroppedAt: ts(e.Gap.At), Reason: e.Gap.Reason}
		s.f.m.gapRecords.Add(float64(e.Gap.Count()))
	} else {
		b.Data = e.Batch
		records = int(e.Header.Count)
	}
	size := len(b.Data) + 64
	if err := s.f.wait(s.ctx, size); err != nil {
		return context.Cause(s.ctx)
	}
	s.mu.Lock()
	s.inflight++
	s.inBytes += size
	p.sent = append(p.sent, sentBatch{end: e.NextOffset(), size: size, records: records, at: s.f.opts.Now()})
	s.mu.Unlock()
	s.f.m.inflight.Set(float64(s.inflightNow()))
	if err := s.stream.Send(&tributaryv1.ReplicateRequest{Msg: &tributaryv1.ReplicateRequest_Batch{Batch: b}}); err != nil {
		return sendErr(err)
	}
	p.buf = p.buf[1:]
	p.next = e.NextOffset()
	s.f.m.sentBatches.Inc()
	s.f.m.sentRecords.Add(float64(records))
	s.f.m.sentBytes.Add(float64(len(b.Data)))
	return nil
}

// errStreamEnded is what a Send returns when the stream has ended; the
// status that ended it comes from Recv.
var errStreamEnded = errors.New("replication stream ended")

// sendErr maps a failed Send within a session. It never calls Recv: the
// receiver goroutine does, and one stream takes one Recv at a time.
func sendErr(err error) error {
	if errors.Is(err, io.EOF) {
		return errStreamEnded
	}
	return err
}

func (s *session) inflightNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
}

// wait takes n bytes from the budget, in steps no larger than the bucket.
func (f *Forwarder) wait(ctx context.Context, n int) error {
	if f.limiter == nil {
		return nil
	}
	for n > 0 {
		step := min(n, f.limiter.Burst())
		if err := f.limiter.WaitN(ctx, step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// receive takes acks until the stream ends.
func (s *session) receive() error {
	index := map[string][]*part{}
	for _, p := range s.parts {
		index[p.stream] = append(index[p.stream], p)
	}
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			return err
		}
		a := resp.GetAck()
		if a == nil {
			return status.Error(codes.InvalidArgument, "the hub sent something other than an Ack")
		}
		var p *part
		for _, c := range index[a.GetStream()] {
			if c.p == int(a.GetPartition()) {
				p = c
			}
		}
		if p == nil {
			return status.Errorf(codes.InvalidArgument, "the hub acked stream %q partition %d, which this session does not send", a.GetStream(), a.GetPartition())
		}
		s.ack(p, a.GetOffset())
	}
}

// ack releases the batches an ack covers.
func (s *session) ack(p *part, off uint64) {
	now := s.f.opts.Now()
	s.mu.Lock()
	if off > p.acked {
		p.acked = off
	}
	records := 0
	for len(p.sent) > 0 && p.sent[0].end <= off {
		b := p.sent[0]
		p.sent = p.sent[1:]
		s.inflight--
		s.inBytes -= b.size
		records += b.records
		s.f.m.rtt.Observe(now.Sub(b.at).Seconds())
	}
	inflight := s.inflight
	s.mu.Unlock()
	s.progressed.Store(true)
	s.f.m.ackedRecords.Add(float64(records))
	s.f.m.inflight.Set(float64(inflight))
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case s.cursors <- struct{}{}:
	default:
	}
}

// commitCursors moves the protecting cursors up to what the hub acked, one
// commit at a time, until the session ends (and once more then).
func (s *session) commitCursors() {
	for {
		select {
		case <-s.cursors:
		case <-s.ctx.Done():
			s.moveCursors()
			return
		}
		s.moveCursors()
	}
}

func (s *session) moveCursors() {
	t := new(spool.Txn)
	type moved struct {
		p   *part
		off uint64
	}
	var ms []moved
	s.mu.Lock()
	for _, p := range s.parts {
		if p.acked > p.committed {
			t.SetCursor(CursorName, p.stream, p.p, p.acked, true)
			ms = append(ms, moved{p, p.acked})
		}
	}
	s.mu.Unlock()
	if len(ms) == 0 {
		return
	}
	// Not the session's context: a cursor move that is due should land even
	// as the session ends.
	if _, err := s.f.sp.Commit(context.Background(), t); err != nil {
		s.f.opts.Logger.Warn("replication: could not move the forwarder's cursors", "err", err)
		return
	}
	s.mu.Lock()
	for _, m := range ms {
		p := m.p
		p.committed = max(p.committed, m.off)
	}
	s.mu.Unlock()
}

// heartbeat reports the heads and backlog of every partition.
func (s *session) heartbeat() error {
	hb := &tributaryv1.Heartbeat{Time: timestamppb.New(s.f.opts.Now())}
	var records, bytes uint64
	var oldest time.Time
	for _, p := range s.parts {
		_, head, err := s.f.sp.Offsets(p.stream, p.p)
		if err != nil {
			return err
		}
		s.mu.Lock()
		acked := p.acked
		s.mu.Unlock()
		h := &tributaryv1.PartitionHead{Stream: p.stream, Partition: uint32(p.p), Head: head}
		if head > acked {
			records += head - acked
			if es, err := s.f.sp.Read(p.stream, p.p, acked, 1); err == nil && len(es) > 0 && es[0].Gap == nil {
				e := es[0]
				per := float64(len(e.Batch)) / float64(max(e.Header.Count, 1))
				h.BacklogBytes = uint64(per * float64(head-acked))
				if e.Header.MinTime != 0 && e.Header.MinTime != math.MinInt64 {
					t := time.Unix(0, e.Header.MinTime)
					h.OldestUnacked = timestamppb.New(t)
					if oldest.IsZero() || t.Before(oldest) {
						oldest = t
					}
				}
			}
			bytes += h.BacklogBytes
		}
		hb.Heads = append(hb.Heads, h)
	}
	s.f.m.backlogRecords.Set(float64(records))
	s.f.m.backlogBytes.Set(float64(bytes))
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, s.f.opts.Now().Sub(oldest).Seconds())
	}
	s.f.m.oldestAge.Set(age)
	if err := s.stream.Send(&tributaryv1.ReplicateRequest{Msg: &tributaryv1.ReplicateRequest_Heartbeat{Heartbeat: hb}}); err != nil {
		return sendErr(err)
	}
	return nil
}
