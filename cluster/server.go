package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// maxOfferedPartitions bounds the partitions one Hello may offer: each
// costs a checkpoint read and a resume entry.
const maxOfferedPartitions = 16384

// maxOfferedStreams bounds the streams one Hello may offer, refused ones
// included (a refusal costs a line in the Welcome).
const maxOfferedStreams = 1024

// streamRE is a stream name, as the spool allows it.
var streamRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)

// helloTimeout bounds the wait for a new stream's Hello.
const helloTimeout = 10 * time.Second

// Server is the hub's replication service and site registry.
type Server struct {
	tributaryv1.UnimplementedReplicationServiceServer
	tributaryv1.UnimplementedSiteServiceServer

	opts    Options
	sink    sink
	m       *metrics
	pending *semaphore.Weighted // Options.MaxPendingBytes, over all sessions

	mu      sync.Mutex
	closing bool
	sites   map[string]*siteState
}

// siteState is the hub's live view of one site. Fields after mu are guarded
// by Server.mu.
type siteState struct {
	hello sync.Mutex // one Hello of the site at a time

	rec         siteRecord
	session     *session // the open one, or nil
	lastContact time.Time
	headsTime   time.Time
	heads       map[partKey]*tributaryv1.PartitionHead
}

type partKey struct {
	stream string
	p      uint32
}

// New returns a Server over opts.Spool, or over Kafka when opts.Kafka is
// set. Close unregisters its metrics.
func New(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, m: m, sites: map[string]*siteState{}, pending: semaphore.NewWeighted(o.MaxPendingBytes)}
	if o.Kafka != nil {
		if s.sink, err = newKafkaSink(o); err != nil {
			m.set.Unregister()
			return nil, err
		}
	} else {
		s.sink = &spoolSink{sp: o.Spool}
	}
	if err := s.loadSites(); err != nil {
		s.closeSink()
		m.set.Unregister()
		return nil, err
	}
	return s, nil
}

// Close ends every open session and unregisters the metrics.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	for _, st := range s.sites {
		if st.session != nil {
			st.session.cancel(status.Error(codes.Unavailable, "hub shutting down"))
		}
	}
	s.mu.Unlock()
	s.closeSink()
	s.m.set.Unregister()
}

// closeSink releases the sink's resources, if it holds any.
func (s *Server) closeSink() {
	if c, ok := s.sink.(interface{ close() }); ok {
		c.close()
	}
}

func (s *Server) loadSites() error {
	recs, err := s.sink.sites(context.Background())
	if err != nil {
		return err
	}
	for n, rec := range recs {
		s.sites[n] = &siteState{heads: map[partKey]*tributaryv1.PartitionHead{}, rec: rec}
	}
	return nil
}

// Replicate serves one edge session; see the service's documentation.
func (s *Server) Replicate(stream tributaryv1.ReplicationService_ReplicateServer) error {
	ctx := stream.Context()
	cred, err := s.authenticate(ctx)
	if err != nil {
		s.m.sessionsOpen.WithLabelValues("refused").Inc()
		return err
	}
	hello, err := recvHello(ctx, stream)
	if err != nil {
		s.m.sessionsOpen.WithLabelValues("refused").Inc()
		return err
	}
	sess, welcome, err := s.open(ctx, cred, hello)
	if err != nil {
		s.m.sessionsOpen.WithLabelValues("refused").Inc()
		return err
	}
	s.m.sessions.Inc()
	defer s.m.sessions.Dec()
	s.opts.Logger.Info("replication session open", "site", hello.GetSite(), "epoch", hello.GetEpoch(),
		"version", hello.GetVersion(), "session", sess.w.gen(), "auth", cred.how, "partitions", len(welcome.GetResume()))
	err = sess.run(stream, welcome)
	s.closeSession(sess)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	result := "closed"
	switch code := status.Code(err); {
	case code == codes.OK, code == codes.Canceled:
	case closing:
		result = "shutdown"
	case code == codes.Aborted:
		result = "fenced"
	case code == codes.FailedPrecondition:
		result = "hole"
	case code == codes.InvalidArgument:
		result = "refused" // the site cannot go on until someone acts
	default:
		result = "error"
	}
	s.m.sessionsOpen.WithLabelValues(result).Inc()
	level := slog.LevelInfo
	if result == "refused" {
		level = slog.LevelError
	}
	s.opts.Logger.Log(stream.Context(), level, "replication session closed", "site", hello.GetSite(), "session", sess.w.gen(), "result", result, "err", err)
	return err
}

// recvHello waits for the first message, which must be a Hello.
func recvHello(ctx context.Context, stream tributaryv1.ReplicationService_ReplicateServer) (*tributaryv1.Hello, error) {
	type result struct {
		req *tributaryv1.ReplicateRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		req, err := stream.Recv()
		ch <- result{req, err}
	}()
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		h := r.req.GetHello()
		if h == nil {
			return nil, status.Error(codes.InvalidArgument, "the first message must be a Hello")
		}
		return h, nil
	case <-t.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "no Hello within %s", helloTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// open checks a Hello, fences the site's previous session and answers with
// the resume offsets.
func (s *Server) open(ctx context.Context, cred credential, h *tributaryv1.Hello) (*session, *tributaryv1.Welcome, error) {
	site := h.GetSite()
	switch {
	case !siteIDRE.MatchString(site):
		return nil, nil, status.Errorf(codes.InvalidArgument, "hello: site %q: want 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit", site)
	case cred.site != "" && cred.site != site:
		return nil, nil, status.Errorf(codes.PermissionDenied, "hello: site %q, but the %s is site %q's", site, cred.how, cred.site)
	case h.GetEpoch() == "":
		return nil, nil, status.Error(codes.InvalidArgument, "hello: epoch is empty")
	}
	sess := &session{srv: s, site: site, epoch: h.GetEpoch(), parts: map[partKey]*partState{},
		budget: semaphore.NewWeighted(int64(s.opts.PipelineBytes))}
	welcome := &tributaryv1.Welcome{}
	var offers []siteOffer
	type target struct {
		name  string
		parts int
	}
	targets := map[string]target{}
	if n := len(h.GetStreams()); n > maxOfferedStreams {
		return nil, nil, status.Errorf(codes.InvalidArgument, "hello: %d streams offered, at most %d", n, maxOfferedStreams)
	}
	offered := make(map[string]bool, len(h.GetStreams()))
	total := 0
	for _, o := range h.GetStreams() {
		name := o.GetStream()
		switch {
		case !streamRE.MatchString(name):
			return nil, nil, status.Errorf(codes.InvalidArgument, "hello: stream %q: want 1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'", name)
		case offered[name]:
			return nil, nil, status.Errorf(codes.InvalidArgument, "hello: stream %q offered twice", name)
		}
		offered[name] = true
		if total += int(o.GetPartitions()); total > maxOfferedPartitions {
			return nil, nil, status.Errorf(codes.InvalidArgument, "hello: more than %d partitions offered in all", maxOfferedPartitions)
		}
		tname := s.opts.hubStream(site, name)
		if !cred.mayWrite(s.opts.Tokens, name) {
			welcome.Refused = append(welcome.Refused, &tributaryv1.StreamRefusal{Stream: name, Reason: "the site's token does not allow this stream"})
			continue
		}
		if o.GetPartitions() < 1 || o.GetPartitions() > 1024 {
			return nil, nil, status.Errorf(codes.InvalidArgument, "hello: stream %q: partitions %d out of range", name, o.GetPartitions())
		}
		parts, refusal, err := s.sink.target(ctx, tname)
		if err != nil {
			return nil, nil, status.Errorf(codes.Unavailable, "stream %q: %v", name, err)
		}
		if refusal != "" {
			welcome.Refused = append(welcome.Refused, &tributaryv1.StreamRefusal{Stream: name, Reason: refusal})
			continue
		}
		offers = append(offers, siteOffer{Stream: name, Partitions: o.GetPartitions()})
		targets[name] = target{tname, parts}
	}
	st := s.site(site)
	st.hello.Lock()
	defer st.hello.Unlock()

	// Fence: end the open session, then let the sink fence durably.
	s.mu.Lock()
	if old := st.session; old != nil {
		old.cancel(status.Errorf(codes.Aborted, "fenced: a newer session of site %q took over", site))
	}
	rec := st.rec
	s.mu.Unlock()
	rec.Epoch, rec.Version, rec.Streams = sess.epoch, h.GetVersion(), offers
	w, err := s.sink.open(ctx, site, rec)
	if err != nil {
		return nil, nil, status.Errorf(codes.Unavailable, "open session: %v", err)
	}
	sess.w = w
	rec.GapRecords = max(rec.GapRecords, w.priorGaps())
	sess.gapRecords = rec.GapRecords
	// Read the checkpoints only now: the sink has fenced the older sessions.
	for _, o := range offers {
		tg := targets[o.Stream]
		for p := range o.Partitions {
			next, stored, err := w.resume(ctx, sess.epoch, o.Stream, p)
			if err != nil {
				w.close()
				return nil, nil, status.Errorf(codes.Unavailable, "read checkpoint: %v", err)
			}
			sess.parts[partKey{o.Stream, p}] = &partState{target: tg.name, hubParts: tg.parts, next: next, stored: stored, acked: next}
			welcome.Resume = append(welcome.Resume, &tributaryv1.PartitionOffset{Stream: o.Stream, Partition: p, Offset: next})
		}
	}
	sess.ctx, sess.cancel = context.WithCancelCause(ctx)
	welcome.Session = w.gen()

	s.mu.Lock()
	st.rec = rec
	st.session = sess
	st.lastContact = s.opts.Now()
	s.mu.Unlock()
	return sess, welcome, nil
}

// site returns the site's live state, made on first use.
func (s *Server) site(name string) *siteState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[name]
	if st == nil {
		st = &siteState{heads: map[partKey]*tributaryv1.PartitionHead{}}
		s.sites[name] = st
	}
	return st
}

func (s *Server) closeSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.sites[sess.site]; st != nil && st.session == sess {
		st.session = nil
		st.lastContact = s.opts.Now()
	}
}

// contact records a message from the site, and its heads if it is a
// heartbeat.
func (s *Server) contact(sess *session, hb *tributaryv1.Heartbeat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sites[sess.site]
	if st == nil || st.session != sess {
		return
	}
	st.lastContact = s.opts.Now()
	if hb != nil {
		st.headsTime = st.lastContact
		for _, h := range hb.GetHeads() {
			st.heads[partKey{h.GetStream(), h.GetPartition()}] = h
		}
	}
}

// gapCount keeps the site record's gap total current in memory.
func (s *Server) gapCount(sess *session, total uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.sites[sess.site]; st != nil {
		st.rec.GapRecords = total
	}
}

// errRecv turns the end of the receive side into the session's result.
func errRecv(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
