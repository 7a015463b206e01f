package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway"
)

const tailSynopsis = "tributary tail STREAM [--addr HOST:PORT] [--token-file FILE] [--tls-ca FILE] [--partition N] [--from-offset N | --from-time RFC3339 | --from-end] [--follow] [--max N] [--format text|json]"

// How tail talks to the node: each long-poll waits up to tailWait; a call
// gets that plus tailSlack before it counts as failed.
const (
	tailWait    = 30 * time.Second
	tailSlack   = 15 * time.Second
	tailBatch   = 1000     // records asked for per read
	tailRecvMax = 64 << 20 // a record may be as large as a spool commit (spool.max_batch_bytes, at most 32MiB)
)

// tailOptions are tail's flags, checked.
type tailOptions struct {
	stream     string
	addr       string
	partition  int // -1: all
	fromOffset *uint64
	fromTime   *time.Time
	fromEnd    bool
	follow     bool
	max        int // 0: no limit
	json       bool
	api        apiFlags
}

// runTail prints a stream's records, read from a node over gRPC.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseTail(args, stderr)
	if err != nil {
		return finish(stderr, err)
	}
	return finish(stderr, tail(ctx, o, stdout, stderr))
}

func parseTail(args []string, stderr io.Writer) (tailOptions, error) {
	o := tailOptions{}
	fs := newFlagSet("tail", tailSynopsis, stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9090", "the node's gRPC address (grpc.listen)")
	o.api.register(fs)
	fs.IntVar(&o.partition, "partition", -1, "read only this partition (default: all)")
	fromOffset := fs.Uint64("from-offset", 0, "start at this offset in each partition read")
	fromTime := fs.String("from-time", "", "start at the first record with an event time at or after this RFC 3339 time")
	fs.BoolVar(&o.fromEnd, "from-end", false, "start after the last record stored now (with --follow: only new records)")
	fs.BoolVar(&o.follow, "follow", false, "keep waiting for new records; stop with Ctrl-C")
	fs.IntVar(&o.max, "max", 0, "stop after this many records (default: no limit)")
	format := fs.String("format", "text", "output: text (one line a record) or json (one JSON object a line)")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") { // STREAM before the flags, or after them
		o.stream, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = usageError{err}
		}
		return o, err
	}
	rest := fs.Args()
	if o.stream == "" && len(rest) > 0 {
		o.stream, rest = rest[0], rest[1:]
	}
	if o.stream == "" || len(rest) > 0 {
		return o, usageError{errors.New("tail: want exactly one STREAM; usage: " + tailSynopsis)}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if n := btoi(set["from-offset"]) + btoi(set["from-time"]) + btoi(o.fromEnd); n > 1 {
		return o, usageError{errors.New("tail: give at most one of --from-offset, --from-time and --from-end")}
	}
	if set["from-offset"] {
		o.fromOffset = fromOffset
	}
	if set["from-time"] {
		t, err := time.Parse(time.RFC3339Nano, *fromTime)
		if err != nil {
			return o, usageError{fmt.Errorf("tail: --from-time %q: want an RFC 3339 time, e.g. 2026-11-29T10:00:00Z", *fromTime)}
		}
		o.fromTime = &t
	}
	switch *format {
	case "text":
	case "json":
		o.json = true
	default:
		return o, usageError{fmt.Errorf("tail: --format %q: want text or json", *format)}
	}
	if o.max < 0 {
		return o, usageError{fmt.Errorf("tail: --max %d: want 0 (no limit) or more", o.max)}
	}
	if o.partition < -1 {
		return o, usageError{fmt.Errorf("tail: --partition %d: want a partition number", o.partition)}
	}
	return o, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tail reads the partitions o asks for and prints what it reads: without
// --follow up to what each partition held when tail started, one
// partition after the other; with it, all of them at once, until ctx ends
// or --max records are printed.
func tail(ctx context.Context, o tailOptions, stdout, stderr io.Writer) error {
	dopts, err := o.api.dialOptions("tail")
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(o.addr, append(dopts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(tailRecvMax)))...)
	if err != nil {
		return usageError{fmt.Errorf("tail: --addr %q: %w", o.addr, err)}
	}
	defer conn.Close()
	client := tributaryv1.NewStreamServiceClient(conn)
	parts, err := tailPartitions(ctx, client, o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &printer{w: stdout, errw: stderr, json: o.json, max: o.max, stop: cancel}
	if !o.follow {
		for _, pi := range parts {
			if err := tailPartition(ctx, client, o, pi, p); err != nil || p.full() {
				return quiet(err)
			}
		}
		return nil
	}
	errs := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, pi := range parts {
		wg.Go(func() { errs <- tailPartition(ctx, client, o, pi, p) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err = quiet(err); err != nil {
			return err
		}
	}
	return nil
}

// quiet drops the error of an ending context: Ctrl-C, or --max reached.
func quiet(err error) error {
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return nil
	}
	return err
}

// tailPartitions lists the partitions to read, as they stand now.
func tailPartitions(ctx context.Context, client tributaryv1.StreamServiceClient, o tailOptions) ([]*tributaryv1.PartitionInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, tailSlack)
	defer cancel()
	resp, err := client.ListStreams(cctx, &tributaryv1.ListStreamsRequest{})
	if err != nil {
		return nil, callError(o.addr, err)
	}
	var names []string
	for _, s := range resp.GetStreams() {
		names = append(names, s.GetName())
		if s.GetName() != o.stream {
			continue
		}
		if o.partition < 0 {
			return s.GetPartitions(), nil
		}
		if o.partition >= len(s.GetPartitions()) {
			return nil, usageError{fmt.Errorf("tail: --partition %d: stream %q has partitions 0 to %d", o.partition, o.stream, len(s.GetPartitions())-1)}
		}
		return s.GetPartitions()[o.partition : o.partition+1], nil
	}
	// Not listed: absent, or not readable with this token. A read says which.
	if _, err := client.Read(cctx, &tributaryv1.ReadRequest{Stream: o.stream, MaxRecords: 1}); err != nil && status.Code(err) != codes.NotFound {
		return nil, callError(o.addr, err)
	}
	sort.Strings(names)
	return nil, usageError{fmt.Errorf("tail: no stream %q on %s; it has: %s", o.stream, o.addr, strings.Join(names, ", "))}
}

// callError explains a failed call: the user's mistake (exit 2) or not.
func callError(addr string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.OutOfRange:
		return usageError{fmt.Errorf("tail: %s", st.Message())}
	case codes.Unavailable:
		return fmt.Errorf("tail: cannot reach the node at %s (is it running, is that its grpc.listen, and does it serve TLS, which needs --tls-ca or --tls?): %s", addr, st.Message())
	case codes.Unauthenticated:
		return fmt.Errorf("tail: the node at %s wants a read token (--token-file FILE or $%s): %s", addr, tokenEnv, st.Message())
	case codes.PermissionDenied:
		return fmt.Errorf("tail: the node at %s refused: %s", addr, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("tail: the node at %s does not serve StreamService (an older version?): %s", addr, st.Message())
	}
	return fmt.Errorf("tail: %s: %s", st.Code(), st.Message())
}

// tailPartition reads one partition and hands what it reads to p.
func tailPartition(ctx context.Context, client tributaryv1.StreamServiceClient, o tailOptions, pi *tributaryv1.PartitionInfo, p *printer) error {
	req := &tributaryv1.ReadRequest{Stream: o.stream, Partition: pi.GetPartition(), MaxRecords: tailBatch, FromOffset: o.fromOffset}
	switch {
	case o.fromTime != nil:
		req.FromTime = timestamppb.New(*o.fromTime)
	case o.fromEnd:
		next := pi.GetNextOffset()
		req.FromOffset = &next
	case o.fromOffset != nil && *o.fromOffset > pi.GetNextOffset():
		// One offset for every partition is past the end of some: start
		// there, rather than fail the whole tail.
		next := pi.GetNextOffset()
		req.FromOffset = &next
		p.warn("partition %d: --from-offset %d is past its end; reading from %d", pi.GetPartition(), *o.fromOffset, next)
	}
	end := pi.GetNextOffset() // without --follow: stop at what is there now
	if o.follow {
		req.Wait = durationpb.New(tailWait)
	}
	for {
		if n := p.left(); n > 0 && n < tailBatch {
			req.MaxRecords = uint32(n)
		}
		cctx, cancel := context.WithTimeout(ctx, tailWait+tailSlack)
		resp, err := client.Read(cctx, req)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return callError(o.addr, err)
		}
		if !p.print(pi.GetPartition(), req, resp) {
			return nil
		}
		next := resp.GetNextOffset()
		req.FromOffset, req.FromTime = &next, nil
		if !o.follow && (next >= end || len(resp.GetRecords())+len(resp.GetGaps()) == 0) {
			return nil
		}
	}
}

// printer writes records, from any number of partitions, one line each.
type printer struct {
	w, errw io.Writer
	json    bool
	max     int
	stop    func() // called once max records are printed

	mu      sync.Mutex
	printed int
	err     error
}

// left is how many records may still be printed; -1 for no limit.
func (p *printer) left() int {
	if p.max == 0 {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max - p.printed
}

func (p *printer) full() bool { return p.left() == 0 }

// warn writes a note on stderr.
func (p *printer) warn(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.errw, "tributary tail: "+format+"\n", args...)
}

// print writes one answer and reports whether to read on.
func (p *printer) print(part int32, req *tributaryv1.ReadRequest, resp *tributaryv1.ReadResponse) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if resp.GetFromOffsetExpired() && req.GetFromOffset() < resp.GetFirstOffset() {
		fmt.Fprintf(p.errw, "tributary tail: partition %d: offsets %d to %d were deleted by retention; reading from %d\n",
			part, req.GetFromOffset(), resp.GetFirstOffset()-1, resp.GetFirstOffset())
	}
	recs, gaps := resp.GetRecords(), resp.GetGaps()
	for len(recs) > 0 || len(gaps) > 0 { // in offset order
		if p.max > 0 && p.printed >= p.max {
			break
		}
		if len(gaps) > 0 && (len(recs) == 0 || gaps[0].GetFromOffset() < recs[0].GetOffset()) {
			p.line(gapLine(part, gaps[0], p.json))
			gaps = gaps[1:]
			continue
		}
		p.line(recordLine(part, recs[0], p.json))
		recs = recs[1:]
		p.printed++
	}
	if p.max > 0 && p.printed >= p.max {
		p.stop()
		return false
	}
	return p.err == nil
}

func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, s+"\n")
		if p.err != nil {
			p.stop() // stdout is gone (a closed pipe): stop reading
		}
	}
}

// recordLine is a record as one line: in text, PARTITION/OFFSET TIME KEY
// HEADERS VALUE, with "-" for an absent field; in JSON, an object.
func recordLine(part int32, r *tributaryv1.StoredRecord, asJSON bool) string {
	if asJSON {
		return marshalLine(struct {
			Partition int32             `json:"partition"`
			Offset    uint64            `json:"offset"`
			Time      *time.Time        `json:"time,omitempty"`
			Key       string            `json:"key"`
			Headers   map[string]string `json:"headers,omitempty"`
			Value     json.RawMessage   `json:"value"`
		}{part, r.GetOffset(), timeOf(r.GetTime()), r.GetKey(), r.GetHeaders(), gateway.JSONValue(r.GetValue())})
	}
	ts := "-"
	if t := timeOf(r.GetTime()); t != nil {
		ts = t.Format(time.RFC3339Nano)
	}
	hs := "-"
	if len(r.GetHeaders()) > 0 {
		names := make([]string, 0, len(r.GetHeaders()))
		for k := range r.GetHeaders() {
			names = append(names, k)
		}
		sort.Strings(names)
		for i, k := range names {
			names[i] = textField(k) + "=" + textField(r.GetHeaders()[k])
		}
		hs = strings.Join(names, ",")
	}
	return fmt.Sprintf("%d/%d %s %s %s %s", part, r.GetOffset(), ts, textField(r.GetKey()), hs, textValue(r.GetValue()))
}

func gapLine(part int32, g *tributaryv1.Gap, asJSON bool) string {
	if asJSON {
		return marshalLine(map[string]any{"partition": part, "gap": map[string]any{
			"from_offset": g.GetFromOffset(), "to_offset": g.GetToOffset(), "count": g.GetCount(), "reason": g.GetReason(),
			"min_time": timeOf(g.GetMinTime()), "max_time": timeOf(g.GetMaxTime())}})
	}
	return fmt.Sprintf("%d/%d-%d GAP %d records dropped (%s), event times %s to %s", part, g.GetFromOffset(), g.GetToOffset()-1,
		g.GetCount(), g.GetReason(), g.GetMinTime().AsTime().Format(time.RFC3339Nano), g.GetMaxTime().AsTime().Format(time.RFC3339Nano))
}

func timeOf(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

func marshalLine(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// textField is s as it is when it is one plain word, else quoted; "-" for
// empty.
func textField(s string) string {
	if s == "" {
		return "-"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' || r == ',' || r == '='
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// textValue is a value as it is when it is printable text, else
// "base64:" and its base64; "-" for empty.
func textValue(v []byte) string {
	if len(v) == 0 {
		return "-"
	}
	if utf8.Valid(v) && strings.IndexFunc(string(v), func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) < 0 {
		return string(v)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(v)
}
