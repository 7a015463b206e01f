package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

// helloTimeout bounds the wait for a new stream's Hello.
const helloTimeout = 10 * time.Second

// Server is the hub's replication service and site registry.
type Server struct {
	tributaryv1.UnimplementedReplicationServiceServer
	tributaryv1.UnimplementedSiteServiceServer

	opts Options
	sp   *spool.Spool
	m    *metrics

	mu      sync.Mutex
	closing bool
	sites   map[string]*siteState
	listMu  sync.Mutex // a new site's Hello holds it while it adds the site to keySites
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

// New returns a Server over opts.Spool. Close unregisters its metrics.
func New(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, sp: o.Spool, m: m, sites: map[string]*siteState{}}
	if err := s.loadSites(); err != nil {
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
	s.m.set.Unregister()
}

func (s *Server) loadSites() error {
	var names []string
	if _, err := readJSON(s.sp, keySites, &names); err != nil {
		return err
	}
	for _, n := range names {
		st := &siteState{heads: map[partKey]*tributaryv1.PartitionHead{}}
		if _, err := readJSON(s.sp, siteKey(n), &st.rec); err != nil {
			return err
		}
		s.sites[n] = st
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
		"version", hello.GetVersion(), "session", sess.mark.gen, "auth", cred.how, "partitions", len(welcome.GetResume()))
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
	default:
		result = "error"
	}
	s.m.sessionsOpen.WithLabelValues(result).Inc()
	s.opts.Logger.Info("replication session closed", "site", hello.GetSite(), "session", sess.mark.gen, "result", result, "err", err)
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
	hubStreams := map[string]spool.StreamConfig{}
	for _, c := range s.sp.Streams() {
		hubStreams[c.Name] = c
	}
	sess := &session{srv: s, site: site, epoch: h.GetEpoch(), parts: map[partKey]*partState{}}
	welcome := &tributaryv1.Welcome{}
	var offers []siteOffer
	targets := map[string]spool.StreamConfig{}
	for _, o := range h.GetStreams() {
		name := o.GetStream()
		target := s.opts.hubStream(site, name)
		cfg, ok := hubStreams[target]
		switch {
		case !ok:
			welcome.Refused = append(welcome.Refused, &tributaryv1.StreamRefusal{Stream: name, Reason: fmt.Sprintf("the hub has no stream %q", target)})
			continue
		case !cred.mayWrite(s.opts.Tokens, name):
			welcome.Refused = append(welcome.Refused, &tributaryv1.StreamRefusal{Stream: name, Reason: "the site's token does not allow this stream"})
			continue
		case o.GetPartitions() < 1 || o.GetPartitions() > 1024:
			return nil, nil, status.Errorf(codes.InvalidArgument, "hello: stream %q: partitions %d out of range", name, o.GetPartitions())
		}
		offers = append(offers, siteOffer{Stream: name, Partitions: o.GetPartitions()})
		targets[name] = cfg
	}
	st := s.site(site)
	st.hello.Lock()
	defer st.hello.Unlock()

	// Fence: end the open session, then take the next generation durably.
	s.mu.Lock()
	if old := st.session; old != nil {
		old.cancel(status.Errorf(codes.Aborted, "fenced: a newer session of site %q took over", site))
	}
	rec := st.rec
	s.mu.Unlock()
	raw, err := s.sp.State(sessionKey(site))
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "read session: %v", err)
	}
	prev, err := parseSessionMark(raw)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "%v", err)
	}
	sess.mark = sessionMark{gen: prev.gen + 1}
	rec.Epoch, rec.Version, rec.Streams = sess.epoch, h.GetVersion(), offers
	// No precondition on the old mark: the fenced session may still be
	// committing (which moves only its transaction count); the generation
	// is ours alone, as Hellos of a site take turns (st.hello).
	t := new(spool.Txn).PutState(sessionKey(site), sess.mark.bytes()).PutState(siteKey(site), mustJSON(rec))
	// A new site joins the stored list; new sites take turns, so that two
	// cannot both write the list each without the other.
	s.listMu.Lock()
	names, added := s.siteNames(site)
	if added {
		t.PutState(keySites, mustJSON(names))
	} else {
		s.listMu.Unlock()
	}
	_, err = s.sp.Commit(ctx, t)
	if added {
		s.listMu.Unlock()
	}
	if err != nil {
		return nil, nil, status.Errorf(codes.Unavailable, "open session: %v", err)
	}
	sess.gapRecords = rec.GapRecords
	// Read the checkpoints only now: a commit the fenced session had queued
	// has landed or failed by the time the fence committed.
	for _, o := range offers {
		cfg := targets[o.Stream]
		for p := range o.Partitions {
			key := ckptKey(site, sess.epoch, o.Stream, p)
			next, stored, err := readCheckpoint(s.sp, key)
			if err != nil {
				return nil, nil, status.Errorf(codes.Internal, "read checkpoint: %v", err)
			}
			sess.parts[partKey{o.Stream, p}] = &partState{key: key, target: cfg.Name, hubParts: cfg.Partitions, next: next, stored: stored, acked: next}
			welcome.Resume = append(welcome.Resume, &tributaryv1.PartitionOffset{Stream: o.Stream, Partition: p, Offset: next})
		}
	}
	sess.ctx, sess.cancel = context.WithCancelCause(ctx)
	welcome.Session = sess.mark.gen

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

// siteNames returns the sorted list of site ids, and whether name is new to
// the stored list.
func (s *Server) siteNames(name string) ([]string, bool) {
	var stored []string
	if _, err := readJSON(s.sp, keySites, &stored); err != nil || slices.Contains(stored, name) {
		return nil, false
	}
	stored = append(stored, name)
	slices.Sort(stored)
	return stored, true
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
