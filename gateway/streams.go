package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

// The limits of a Read: defaults for a zero field, and caps that larger
// values are lowered to.
const (
	defaultReadRecords = 100
	maxReadRecords     = 10000
	defaultReadBytes   = 1 << 20
	maxReadBytes       = 8 << 20 // under the CLI's receive limit, with room for framing
	maxReadWait        = 60 * time.Second
)

// streamService implements tributary.v1.StreamService on the node's spool,
// for either role.
type streamService struct {
	tributaryv1.UnimplementedStreamServiceServer
	n *Node
}

// spool is the node's spool; nil before Start.
func (s *streamService) spool() (*spool.Spool, error) {
	s.n.lnMu.Lock()
	defer s.n.lnMu.Unlock()
	if s.n.stateless() {
		return nil, status.Error(codes.FailedPrecondition, "this hub keeps no streams: it writes what sites send to Kafka (replication.sink: kafka); read the topics with a Kafka client at read_committed")
	}
	if s.n.spool == nil {
		return nil, status.Error(codes.Unavailable, "the node has not started")
	}
	return s.n.spool, nil
}

// ListStreams lists the streams the caller may read.
func (s *streamService) ListStreams(ctx context.Context, _ *tributaryv1.ListStreamsRequest) (*tributaryv1.ListStreamsResponse, error) {
	who, err := s.n.auth.identify(ctx)
	if err != nil {
		return nil, err
	}
	sp, err := s.spool()
	if err != nil {
		return nil, err
	}
	cfgs := sp.Streams()
	sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Name < cfgs[j].Name })
	resp := &tributaryv1.ListStreamsResponse{Streams: make([]*tributaryv1.StreamInfo, 0, len(cfgs))}
	for _, cfg := range cfgs {
		if !who.mayRead(cfg.Name) {
			continue
		}
		si := &tributaryv1.StreamInfo{Name: cfg.Name}
		for p := range cfg.Partitions {
			start, next, err := sp.Offsets(cfg.Name, p)
			if err != nil {
				return nil, streamError(err)
			}
			b, err := sp.PartitionBytes(cfg.Name, p)
			if err != nil {
				return nil, streamError(err)
			}
			si.Bytes += b
			si.Partitions = append(si.Partitions, &tributaryv1.PartitionInfo{
				Partition: int32(p), StartOffset: start, NextOffset: next, Bytes: b}) // at most 1024 partitions: fits
		}
		resp.Streams = append(resp.Streams, si)
	}
	return resp, nil
}

// readArgs is a ReadRequest checked, with its defaults and caps applied.
type readArgs struct {
	stream     string
	partition  int
	fromOffset *uint64
	fromTime   *time.Time
	maxRecords int
	maxBytes   int
	wait       time.Duration
}

func invalidArg(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// readArgsOf checks req against the spool's streams.
func readArgsOf(sp *spool.Spool, req *tributaryv1.ReadRequest) (readArgs, error) {
	a := readArgs{stream: req.GetStream(), partition: int(req.GetPartition()), fromOffset: req.FromOffset,
		maxRecords: int(req.GetMaxRecords()), maxBytes: int(req.GetMaxBytes())}
	if a.stream == "" {
		return a, invalidArg("stream", "missing")
	}
	var parts int
	for _, cfg := range sp.Streams() {
		if cfg.Name == a.stream {
			parts = cfg.Partitions
		}
	}
	if parts == 0 {
		return a, status.Errorf(codes.NotFound, "stream %q does not exist on this node; GET /v1/streams lists them", a.stream)
	}
	if a.partition < 0 || a.partition >= parts {
		return a, invalidArg("partition", "stream %q has partitions 0 to %d, got %d", a.stream, parts-1, a.partition)
	}
	if ft := req.GetFromTime(); ft != nil {
		if req.FromOffset != nil {
			return a, invalidArg("from_time", "give from_offset or from_time, not both")
		}
		if err := ft.CheckValid(); err != nil {
			return a, invalidArg("from_time", "%v", err)
		}
		t := ft.AsTime()
		a.fromTime = &t
	}
	if w := req.GetWait(); w != nil {
		if err := w.CheckValid(); err != nil || w.AsDuration() < 0 {
			return a, invalidArg("wait", "must be a duration of 0 or more, e.g. 30s")
		}
		a.wait = min(w.AsDuration(), maxReadWait)
	}
	a.maxRecords = capOr(a.maxRecords, defaultReadRecords, maxReadRecords)
	a.maxBytes = capOr(a.maxBytes, defaultReadBytes, maxReadBytes)
	return a, nil
}

// capOr is v, or def for 0, lowered to at most limit.
func capOr(v, def, limit int) int {
	if v == 0 {
		return def
	}
	return min(v, limit)
}

// Read answers from the spool: see stream.proto for the contract.
// The token is checked first, so that a caller learns nothing of a stream
// it may not read, not even whether it exists.
func (s *streamService) Read(ctx context.Context, req *tributaryv1.ReadRequest) (*tributaryv1.ReadResponse, error) {
	if err := s.n.auth.mayRead(ctx, req.GetStream()); err != nil {
		return nil, err
	}
	sp, err := s.spool()
	if err != nil {
		return nil, err
	}
	a, err := readArgsOf(sp, req)
	if err != nil {
		return nil, err
	}
	r := &reader{sp: sp, a: a, resp: &tributaryv1.ReadResponse{}}
	if err := r.start(); err != nil {
		return nil, streamError(err)
	}
	for {
		done, err := r.fill()
		if err != nil {
			return nil, streamError(err)
		}
		if done || r.count() > 0 || a.wait == 0 {
			break
		}
		if !s.waitForData(ctx, sp, a, r.pos) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, streamError(err)
		}
	}
	r.resp.NextOffset = r.pos
	_, r.resp.EndOffset, _ = sp.Offsets(a.stream, a.partition)
	return r.resp, nil
}

// waitForData waits until the partition has an entry at pos, the wait
// ends, the call ends or the node stops. It reports whether to read again.
func (s *streamService) waitForData(ctx context.Context, sp *spool.Spool, a readArgs, pos uint64) bool {
	wctx, cancel := context.WithTimeout(ctx, a.wait)
	defer cancel()
	stop := context.AfterFunc(s.n.stopCtx, cancel) // a shutdown answers waiting reads at once
	defer stop()
	_, err := sp.Iterate(a.stream, a.partition, pos).Next(wctx)
	// An error from the spool itself (closed, corrupt) is met again by the
	// read that follows, and answered there.
	return err == nil || (!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)) || ctx.Err() != nil
}

// reader builds one ReadResponse.
type reader struct {
	sp    *spool.Spool
	a     readArgs
	resp  *tributaryv1.ReadResponse
	pos   uint64 // the next offset to return
	bytes int    // of the records in resp
}

func (r *reader) count() int { return len(r.resp.Records) + len(r.resp.Gaps) }

// start finds the first offset: from_offset, the one for from_time, or
// the partition's start.
func (r *reader) start() error {
	start, _, err := r.sp.Offsets(r.a.stream, r.a.partition)
	if err != nil {
		return err
	}
	switch {
	case r.a.fromOffset != nil:
		r.pos = *r.a.fromOffset
	case r.a.fromTime != nil:
		if r.pos, err = r.sp.OffsetForTime(r.a.stream, r.a.partition, *r.a.fromTime); err != nil {
			return err
		}
	default:
		r.pos = start
	}
	r.resp.FirstOffset = r.pos
	return nil
}

// fill adds entries from r.pos on until a limit is reached (done) or the
// partition's end.
func (r *reader) fill() (done bool, err error) {
	for {
		entries, err := r.sp.Read(r.a.stream, r.a.partition, r.pos, r.a.maxBytes)
		var oor *spool.OutOfRangeError
		switch {
		case errors.As(err, &oor) && r.pos < oor.Start && r.count() == 0:
			// Retention deleted what was asked for: start at what is left,
			// and say so.
			r.pos, r.resp.FirstOffset, r.resp.FromOffsetExpired = oor.Start, oor.Start, true
			continue
		case errors.As(err, &oor) && r.pos > oor.Next:
			return false, status.Errorf(codes.OutOfRange, "from_offset: %d is past partition %d's next offset %d", r.pos, r.a.partition, oor.Next)
		case err != nil && r.count() > 0:
			return true, nil // the next read, from r.pos, meets the error
		case err != nil:
			return false, err
		case len(entries) == 0:
			return false, nil
		}
		for _, e := range entries {
			if done, err := r.add(e); done || err != nil {
				return done || r.count() > 0, err
			}
		}
	}
}

// add puts the part of e from r.pos on into the answer, as far as the
// limits let it.
func (r *reader) add(e spool.Entry) (done bool, err error) {
	if e.Gap != nil {
		if r.count() >= r.a.maxRecords {
			return true, nil
		}
		r.resp.Gaps = append(r.resp.Gaps, gapProto(*e.Gap))
		r.pos = e.NextOffset()
		return false, nil
	}
	recs, err := e.Records()
	if err != nil {
		if r.count() > 0 {
			return true, nil // the next read meets it
		}
		return false, &spool.CorruptError{Stream: r.a.stream, Partition: r.a.partition, Offset: e.Offset(),
			Err: fmt.Errorf("the batch of offsets %d to %d cannot be decoded: %w", e.Offset(), e.NextOffset()-1, err)}
	}
	for i := range recs {
		off := e.Offset() + uint64(i)
		if off < r.pos {
			continue
		}
		size := spool.RecordSize(&recs[i])
		if r.count() >= r.a.maxRecords || (r.count() > 0 && r.bytes+size > r.a.maxBytes) {
			return true, nil
		}
		r.resp.Records = append(r.resp.Records, recordProto(off, &recs[i]))
		r.bytes += size
		r.pos = off + 1
	}
	return false, nil
}

func recordProto(off uint64, rec *spool.Record) *tributaryv1.StoredRecord {
	out := &tributaryv1.StoredRecord{Offset: off, Key: strings.ToValidUTF8(string(rec.Key), "\uFFFD"), Value: rec.Value}
	if !rec.Time.IsZero() {
		out.Time = timestamppb.New(rec.Time)
	}
	if len(rec.Headers) > 0 {
		out.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			out.Headers[strings.ToValidUTF8(h.Key, "\uFFFD")] = strings.ToValidUTF8(string(h.Value), "\uFFFD")
		}
	}
	return out
}

func gapProto(g spool.Gap) *tributaryv1.Gap {
	return &tributaryv1.Gap{FromOffset: g.From, ToOffset: g.To, Count: g.Count(), Reason: g.Reason,
		MinTime: timestamppb.New(g.MinTime), MaxTime: timestamppb.New(g.MaxTime), DropTime: timestamppb.New(g.At)}
}

// streamError gives a spool error its gRPC code.
func streamError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	msg := err.Error()
	switch {
	case errors.Is(err, spool.ErrUnknownStream):
		code = codes.NotFound
	case errors.Is(err, spool.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, spool.ErrOutOfRange):
		code = codes.OutOfRange
	case errors.Is(err, spool.ErrCorrupt):
		code = codes.DataLoss
		msg += "; the records there are lost: run `tributary spool check` on the stopped node for every damaged range"
	case errors.Is(err, spool.ErrClosed):
		code = codes.Unavailable
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, msg)
}
