package firmwaresim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// HeaderSite is the record header a hub adds to every record it receives
// from a site: the site's id. A hub writing into Kafka adds it to the
// Kafka record's headers too (the name repeats the hub's own constant:
// this package imports none of the product's).
const HeaderSite = "tributary.site"

// Errors Verify returns for what the caller asked, as opposed to a failure
// to read (see IsUsageError).
var (
	// ErrUnknownStream: VerifyOptions.Streams names a stream the node does
	// not have.
	ErrUnknownStream = errors.New("no such stream")
	// ErrBadOption: a VerifyOptions field is out of range.
	ErrBadOption = errors.New("bad option")
)

// VerifyOptions tune Verify. The zero value reads every stream once.
type VerifyOptions struct {
	// Streams to read. Nil or empty: every stream ListStreams returns.
	// With VerifyKafka: the topics (default: all but the checkpoint topic
	// and internal ones).
	Streams []string
	// Site: only records whose "tributary.site" header equals it count.
	// Empty: the ledger's site; when that is empty too, every site counts.
	Site string
	// IncludeUnlabelled also counts records without a "tributary.site"
	// header, as an edge node read directly holds them. Default: they are
	// skipped (and counted in Report.Unlabelled).
	IncludeUnlabelled bool
	// Until makes Verify read again and again, up to this long, until
	// every acknowledged message is at the hub (or the hub settles, see
	// Quiet); then it reports what it has. 0: read once. For a check made
	// right after the fleet stops, while replication still drains.
	Until time.Duration
	// Quiet, with Until: stop early once the hub has not grown for this
	// long and the hub reports no replication lag for the site (or cannot
	// report it: an edge node, a hub without SiteService, Kafka). 0: 5s;
	// negative: never stop early.
	Quiet time.Duration
	// Poll is the pause between reads with Until. 0: 500ms.
	Poll time.Duration
	// PageRecords is the max_records of each Read. 0: 10000, the most a
	// node returns. Not for VerifyKafka: a fetch takes up to 4 MiB.
	PageRecords uint32
	// Parallel is how many partitions are read at once. 0: 4.
	Parallel int
	// CallTimeout bounds each gRPC call (each Kafka request, and a wait
	// for a Kafka leader). 0: 30s.
	CallTimeout time.Duration
}

func (o VerifyOptions) withDefaults(l *Ledger) (VerifyOptions, error) {
	if o.Site == "" {
		o.Site = l.Site()
	}
	if o.Until < 0 {
		return o, fmt.Errorf("%w: VerifyOptions.Until %v: want 0 (read once) or more", ErrBadOption, o.Until)
	}
	if o.Quiet == 0 {
		o.Quiet = 5 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Poll < 0 {
		return o, fmt.Errorf("%w: VerifyOptions.Poll %v: want 0 (500ms) or more", ErrBadOption, o.Poll)
	}
	if o.PageRecords == 0 || o.PageRecords > 10000 {
		o.PageRecords = 10000
	}
	if o.Parallel == 0 {
		o.Parallel = 4
	}
	if o.Parallel < 0 {
		return o, fmt.Errorf("%w: VerifyOptions.Parallel %d: want 0 (4) or more", ErrBadOption, o.Parallel)
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	return o, nil
}

// Read limits: a page of simulator messages (a few hundred bytes each, a
// vibration burst a few KiB) stays well under readBytes; a single record
// may be as large as a spool commit, so the receive limit allows that.
const (
	readBytes   = 4 << 20
	readRecvMax = 64 << 20
)

// Verify reads a node's streams over conn (the hub's gRPC API, or an edge
// node's) and compares what it finds with ledger: per device, the
// acknowledged messages that are missing, the messages stored more than
// once, and those out of order. It returns an error only when it could not
// read (the node is unreachable, a stream is unknown, a batch is damaged);
// what it found wrong with the data is in the Report (see Report.OK).
//
// Verify keeps, per device, the sequence numbers seen as ranges, not the
// records, so its memory grows with the devices and the holes, not with
// the stream.
func Verify(ctx context.Context, conn grpc.ClientConnInterface, ledger *Ledger, opts VerifyOptions) (*Report, error) {
	o, err := opts.withDefaults(ledger)
	if err != nil {
		return nil, err
	}
	t := newTally(ledger, o)
	src := &apiSource{
		o:      o,
		client: tributaryv1.NewStreamServiceClient(conn),
		sites:  tributaryv1.NewSiteServiceClient(conn),
		t:      t,
	}
	return run(ctx, o, t, src, sourceAPI)
}

// source is where a verification reads: a node's read API (apiSource) or
// Kafka topics (kafkaSource). Both hand what they read to the same tally.
type source interface {
	// pass reads every chosen partition from where the last pass stopped
	// to where it ends now, into the tally, and returns how many records
	// it read.
	pass(ctx context.Context) (int, error)
	// site is what the source knows of the site's losses and lag.
	site(ctx context.Context) siteState
}

// Where the records are, in the words of the report: Report.Source.
const (
	sourceAPI   = ""
	sourceKafka = "kafka"
)

// run reads src in passes, as VerifyOptions.Until asks, and reports.
func run(ctx context.Context, o VerifyOptions, t *tally, src source, kind string) (*Report, error) {
	where, store := "at the hub", "the hub"
	if kind == sourceKafka {
		where, store = "in Kafka", "Kafka"
	}
	start := time.Now()
	deadline := start.Add(o.Until)
	lastGrowth := start
	passes, why := 0, ""
	var site siteState
	for {
		grew, err := src.pass(ctx)
		passes++
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if grew > 0 {
			lastGrowth = now
		}
		site = src.site(ctx)
		switch {
		case o.Until == 0:
			why = "read once"
		case t.complete():
			why = "every acknowledged message is " + where
		case !now.Before(deadline):
			why = fmt.Sprintf("waited %v (--until) for the missing messages", o.Until)
		case o.Quiet > 0 && now.Sub(lastGrowth) >= o.Quiet && (!site.lagKnown || site.lag == 0):
			why = fmt.Sprintf("%s stopped growing for %v", store, o.Quiet)
			if site.lagKnown {
				why += " and has no replication lag for the site"
			}
		}
		if why != "" {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(o.Poll, time.Until(deadline))):
		}
	}
	r := t.report()
	r.Source = kind
	r.Passes, r.Elapsed, r.Stopped = passes, time.Since(start), why
	if site.known {
		r.SiteGapRecords, r.SiteLagRecords = site.gaps, site.lag
		r.SiteKnown = true
	}
	return r, nil
}

// apiSource reads a node's streams over its gRPC API (StreamService), and
// asks its SiteService about the site.
type apiSource struct {
	o      VerifyOptions
	client tributaryv1.StreamServiceClient
	sites  tributaryv1.SiteServiceClient
	t      *tally
}

// siteState is what the source knows of the site: the records its edge
// lost (gaps) and, when lagKnown, the replication lag. Zero: nothing.
type siteState struct {
	known, lagKnown bool
	lag, gaps       uint64
}

// site asks the node about the ledger's site. A node without SiteService
// (an edge node) or without the site answers nothing: that is not an
// error, the report just cannot say.
func (v *apiSource) site(ctx context.Context) siteState {
	if v.o.Site == "" {
		return siteState{}
	}
	cctx, cancel := context.WithTimeout(ctx, v.o.CallTimeout)
	defer cancel()
	resp, err := v.sites.ListSites(cctx, &tributaryv1.ListSitesRequest{})
	if err != nil {
		return siteState{}
	}
	for _, s := range resp.GetSites() {
		if s.GetSite() != v.o.Site {
			continue
		}
		st := siteState{known: true, lagKnown: true, gaps: s.GetGapRecords()}
		for _, p := range s.GetPartitions() {
			st.lag += p.GetLagRecords()
		}
		return st
	}
	return siteState{}
}

func (v *apiSource) pass(ctx context.Context) (int, error) {
	parts, err := v.partitions(ctx)
	if err != nil {
		return 0, err
	}
	jobs := make([]func(context.Context) (int, error), len(parts))
	for i, p := range parts {
		jobs[i] = func(ctx context.Context) (int, error) { return v.readPartition(ctx, p) }
	}
	return parallel(ctx, v.o.Parallel, jobs)
}

// parallel runs jobs, at most limit at once, and returns the sum of what
// they return. The first error stops the others.
func parallel(ctx context.Context, limit int, jobs []func(context.Context) (int, error)) (int, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		total int
	)
	sem := make(chan struct{}, limit)
	for _, job := range jobs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-rctx.Done():
				return
			}
			defer func() { <-sem }()
			n, err := job(rctx)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && first == nil {
				first = err
				cancel() // the other jobs stop too
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return total, first
}

// partRead is one partition to read in a pass: its stream, its number and
// where it ends now.
type partRead struct {
	stream    string
	partition int32
	start     uint64 // the oldest offset still held
	end       uint64 // the next offset, as listed
}

// partitions lists the partitions to read in this pass.
func (v *apiSource) partitions(ctx context.Context) ([]partRead, error) {
	cctx, cancel := context.WithTimeout(ctx, v.o.CallTimeout)
	defer cancel()
	resp, err := v.client.ListStreams(cctx, &tributaryv1.ListStreamsRequest{})
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	byName := map[string]*tributaryv1.StreamInfo{}
	var names []string
	for _, s := range resp.GetStreams() {
		byName[s.GetName()] = s
		names = append(names, s.GetName())
	}
	want := v.o.Streams
	if len(want) == 0 {
		want = names
	}
	var out []partRead
	for _, name := range want {
		s := byName[name]
		if s == nil {
			slices.Sort(names)
			return nil, fmt.Errorf("stream %q: %w on the node; it has: %s", name, ErrUnknownStream, strings.Join(names, ", "))
		}
		v.t.stream(name)
		for _, p := range s.GetPartitions() {
			out = append(out, partRead{stream: name, partition: p.GetPartition(), start: p.GetStartOffset(), end: p.GetNextOffset()})
		}
	}
	return out, nil
}

// readPartition reads p from where the last pass stopped to p.end, in
// pages, and hands each page to the tally.
func (v *apiSource) readPartition(ctx context.Context, p partRead) (int, error) {
	from, started := v.t.position(p.stream, p.partition)
	if started && from >= p.end {
		return 0, nil
	}
	req := &tributaryv1.ReadRequest{Stream: p.stream, Partition: p.partition, MaxRecords: v.o.PageRecords, MaxBytes: readBytes}
	if started {
		req.FromOffset = &from
	}
	n := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, v.o.CallTimeout)
		resp, err := v.client.Read(cctx, req, grpc.MaxCallRecvMsgSize(readRecvMax))
		cancel()
		if err != nil {
			return n, fmt.Errorf("read %s/%d from offset %d: %w", p.stream, p.partition, req.GetFromOffset(), err)
		}
		page := v.parse(resp.GetRecords())
		n += len(resp.GetRecords())
		v.t.addPage(p.stream, p.partition, req.FromOffset, resp, page)
		next := resp.GetNextOffset()
		if next >= p.end || len(resp.GetRecords())+len(resp.GetGaps()) == 0 {
			return n, nil
		}
		req.FromOffset = &next
	}
}

// parsed is one record of a page as the tally needs it.
type parsed struct {
	offset uint64
	device string
	seq    uint64
	kind   recordKind
}

type recordKind uint8

const (
	kindCounted    recordKind = iota // a simulator message of the site
	kindOtherSite                    // a record of another site
	kindUnlabelled                   // no site header, and they do not count
	kindForeign                      // of the site, but not a simulator message
)

// parse classifies a page's records; it runs outside the tally's lock.
func (v *apiSource) parse(recs []*tributaryv1.StoredRecord) []parsed {
	out := make([]parsed, len(recs))
	for i, r := range recs {
		site, labelled := r.GetHeaders()[HeaderSite]
		out[i] = classify(v.o, r.GetOffset(), site, labelled, r.GetValue())
	}
	return out
}

// classify is one record as the tally needs it: site is its
// "tributary.site" header, if labelled.
func classify(o VerifyOptions, offset uint64, site string, labelled bool, value []byte) parsed {
	p := parsed{offset: offset}
	switch {
	case !labelled && !o.IncludeUnlabelled:
		p.kind = kindUnlabelled
		return p
	case labelled && o.Site != "" && site != o.Site:
		p.kind = kindOtherSite
		return p
	}
	d, seq, err := ParseIdentity(value)
	if err != nil {
		p.kind = kindForeign
		return p
	}
	p.device, p.seq = d, seq
	return p
}

// IsUsageError reports whether err from Verify is the caller's to fix (an
// unknown stream or partition, a bad option) rather than a failure to
// read.
func IsUsageError(err error) bool {
	if errors.Is(err, ErrUnknownStream) || errors.Is(err, ErrBadOption) {
		return true
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound:
		return true
	}
	return false
}
